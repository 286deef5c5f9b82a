// Errors a broker answers while it is still settling (a topic just created, a leader just moved,
// a coordinator still loading its log): asking again shortly, with fresh metadata, succeeds.
const RETRIABLE_TYPES = new Set([
  'NOT_LEADER_FOR_PARTITION',
  'LEADER_NOT_AVAILABLE',
  'UNKNOWN_TOPIC_OR_PARTITION',
  'COORDINATOR_LOAD_IN_PROGRESS',
  'COORDINATOR_NOT_AVAILABLE',
  'NOT_COORDINATOR',
  'NOT_CONTROLLER',
  'REQUEST_TIMED_OUT',
  'REPLICA_NOT_AVAILABLE',
  'OFFSET_NOT_AVAILABLE',
  // A transactional id's previous transaction is still being completed (a fence waits for it).
  'CONCURRENT_TRANSACTIONS',
]);

// A broker that went away (killed, restarting): on a cluster its partitions get new leaders once
// the controller notices (broker.session.timeout.ms, 9 s by default); until then the metadata still
// names it. KafkaJS's own retries of these reuse that metadata, so they run out first.
const RETRIABLE_NAMES = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSRequestTimeoutError',
]);

interface KafkaErrorShape {
  type?: string;
  retriable?: boolean;
  name?: string;
  originalError?: unknown;
  cause?: unknown;
}

/**
 * The first error in e's chain of causes that `matches`, if any. KafkaJS wraps what it gives up on:
 * its retrier in KafkaJSNumberOfRetriesExceeded (`originalError`), a non-retriable protocol error in
 * KafkaJSNonRetriableError (`cause`); what tells the error apart is on the inner one.
 */
function findInCauses(e: unknown, matches: (err: KafkaErrorShape) => boolean): Error | undefined {
  for (let err = e as KafkaErrorShape | undefined, depth = 0; err && depth < 5; depth++) {
    if (matches(err)) return err as Error;
    err = (err.originalError ?? err.cause) as KafkaErrorShape | undefined;
  }
  return undefined;
}

/** The first error in e's chain of causes whose protocol `type` is one of `types`, if any. */
export function findKafkaErrorOfType(e: unknown, types: ReadonlySet<string>): Error | undefined {
  return findInCauses(e, (err) => err.type !== undefined && types.has(err.type));
}

/**
 * True for the protocol errors above (and, with `lostConnections`, the lost broker connections),
 * also when KafkaJS wrapped them in its "retries exceeded" error (its own retries reuse the metadata
 * it held, which is why they can run out).
 */
export function isRetriableKafkaError(e: unknown, options: { lostConnections?: boolean } = {}): boolean {
  if (findKafkaErrorOfType(e, RETRIABLE_TYPES) !== undefined) return true;
  return (
    !!options.lostConnections &&
    findInCauses(e, (err) => err.name !== undefined && RETRIABLE_NAMES.has(err.name)) !== undefined
  );
}

export interface RetryOptions {
  /** Total time allowed, first attempt included (default 30 s). */
  timeoutMs?: number;
  /** Called before each retry, e.g. to refresh metadata. */
  beforeRetry?: () => Promise<void>;
  /**
   * Also retry a lost broker connection (refused, reset, timed out): right for work that must get
   * done through a failover (topics at start, a fence, a send). Not for a read whose failure the
   * caller takes as "the cluster is not answering" (heartbeat's clocks hold on it).
   */
  lostConnections?: boolean;
}

/**
 * Runs `fn`, retrying only retriable broker errors with doubling delays (100 ms up to 2 s) until
 * `timeoutMs`; anything else, or the last retriable error past the bound, is thrown with `what` in
 * the message so the caller's log says which operation gave up.
 */
export async function withRetries<T>(what: string, fn: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 30000);
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      const delay = Math.min(2000, 100 * 2 ** attempt);
      const retriable = isRetriableKafkaError(e, options);
      if (!retriable || Date.now() + delay > deadline) {
        if (retriable) (e as Error).message = `${what}: still failing after retries: ${(e as Error).message}`;
        throw e;
      }
      await new Promise((r) => setTimeout(r, delay));
      await options.beforeRetry?.().catch(() => undefined);
    }
  }
}

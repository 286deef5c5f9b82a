import { SpanStatusCode, type Span } from '@opentelemetry/api';
import type { Batch, EachBatchPayload } from 'kafkajs';
import type { SchemaCodec, TopicDef } from '@vigil/events';
import { DeadLetterWriter } from './dead-letter-writer';
import type { KafkaClient, KafkaConsumer } from './kafka-client';
import type { EventsLogger } from './logger';
import { stderrLogger } from './logger';
import type { EventsMetrics } from './metrics';
import { IntervalCommitter } from './offset-committer';
import type { EventProducer } from './producer';
import { findKafkaErrorOfType } from './retries';
import { onSkippedBatches } from './skipped-batches';
import { StartPositions } from './start-positions';
import { PartitionNotReady, PartitionPauses } from './partition-pauses';
import { RecordAdmission, type ConsumedRecord, type Rejected } from './record-admission';

export type { ConsumedRecord } from './record-admission';
export { PartitionNotReady } from './partition-pauses';

/** Records a handler refuses on domain grounds; they are dead-lettered before the batch commits. */
export interface HandlerResult<T> {
  rejected?: Array<{ record: ConsumedRecord<T>; error: string }>;
}

export interface BatchInfo {
  topic: string;
  partition: number;
  firstOffset: string;
  lastOffset: string;
  /** The partition's high watermark when the batch was fetched: how far behind this consumer is. */
  highWatermark: string;
  /** Bumps on every rebalance this consumer takes part in: per-partition state older than it is suspect. */
  generation: number;
  /** The partitions of this topic that this consumer owns in this generation. */
  assignment: number[];
}

export type BatchHandler<T> = (records: Array<ConsumedRecord<T>>, batch: BatchInfo) => Promise<HandlerResult<T> | void>;

export interface Subscription<T> {
  topic: TopicDef<T>;
  handler: BatchHandler<T>;
  /**
   * Also call the handler (with no records) for a batch whose records were all dead-lettered, so a
   * handler that tracks its position (e.g. to know it has caught up) sees every offset go by.
   */
  includeEmptyBatches?: boolean;
  /** Where a group with no committed offset starts on this topic (default: the runner's fromBeginning). */
  fromBeginning?: boolean;
  /**
   * Only records whose key this accepts are decoded and handed over; the others are passed over
   * (committed with the batch, never dead-lettered). For a reader that serves some keys of a topic,
   * e.g. a host's supervisor reading the commands of the agents it runs.
   */
  acceptKey?: (key: string) => boolean;
  /**
   * On a compacted topic a record without a value is a deletion, not bad input: hand it over with
   * `value: null` (its key and headers say what it deletes) instead of dead-lettering it. The
   * handler's records are then `ConsumedRecord<T | null>`.
   */
  tombstones?: boolean;
}

/** Group membership as this consumer sees it: which partitions it owns, per topic, in which generation. */
export interface GroupListener {
  /** A rebalance began: until the next join, partitions may be owned by another member. */
  rebalancing?(): void;
  joined?(assignment: Record<string, number[]>, generation: number): void;
}

export interface ConsumerRunnerOptions {
  kafka: KafkaClient;
  codec: SchemaCodec;
  /** Writes the dead letters; it must be connected to the same cluster. Not needed with deadLetters 'log'. */
  producer?: EventProducer;
  /**
   * Where refused records go: 'topic' (default) writes them to `<topic>.dlq`; 'log' only logs and
   * counts them, for readers of which there are many (one per host) and whose dead letters would be
   * the same record written many times.
   */
  deadLetters?: 'topic' | 'log';
  groupId: string;
  subscriptions: Array<Subscription<never>>;
  fromBeginning?: boolean;
  /** Values larger than this are dead-lettered as oversized. */
  maxValueBytes?: number;
  /** Attempts at a failing batch (handler or DLQ write) before the partition is paused. */
  attemptsBeforePause?: number;
  /** Longest pause of a partition that keeps failing; pauses double up to it. */
  maxPauseMs?: number;
  sessionTimeoutMs?: number;
  partitionsConsumedConcurrently?: number;
  /**
   * Commit offsets every this many ms, every partition's in one request, off the batches' path,
   * instead of one commit per batch that the partition waits for. A batch's offset is recorded only
   * after its handler and its dead letters succeeded, so nothing is skipped; a crash or a rebalance
   * redelivers up to an interval of handled records, so only for handlers that are idempotent on
   * redelivery. `stop()` commits what is recorded. Unset: each batch commits before its partition
   * moves on.
   */
  commitIntervalMs?: number;
  /**
   * Most bytes fetched per partition per request (KafkaJS default 1 MiB). Smaller fetches keep
   * fewer decoded records alive at once: the memory knob of a consumer of many small records.
   */
  maxBytesPerPartition?: number;
  /**
   * Most bytes of one fetch over all partitions (default: 12 partitions' worth). The records of one
   * fetch are all in memory until their batches are handled, and KafkaJS fetches again only then:
   * this is the bound on what a consumer under backlog holds, its backpressure.
   */
  maxBytes?: number;
  logger?: EventsLogger;
  metrics?: EventsMetrics;
  group?: GroupListener;
}

// The group moved on without this member; KafkaJS's own loop must see the error to rejoin.
const REBALANCE_ERRORS = new Set([
  'REBALANCE_IN_PROGRESS',
  'UNKNOWN_MEMBER_ID',
  'ILLEGAL_GENERATION',
  'NOT_COORDINATOR_FOR_GROUP',
]);

/**
 * Consumes catalogue topics in batches with at-least-once delivery: a batch's offsets are committed
 * only after its handler succeeded and its dead letters are written. Records that cannot be decoded
 * or validated go to `<topic>.dlq` with the reason and never reach the handler; the partition moves
 * on. When the handler or the DLQ keeps failing, the partition is paused and retried later
 * (backpressure), never skipped.
 */
export class ConsumerRunner {
  private readonly consumer: KafkaConsumer;
  private readonly subs = new Map<string, Subscription<unknown>>();
  private readonly logger: EventsLogger;
  private readonly pauses: PartitionPauses;
  private running = false;
  /** With commitIntervalMs: commits what batches recorded, off their path. Without: each batch commits. */
  private readonly committer?: IntervalCommitter;
  private readonly admission: RecordAdmission;
  private readonly deadLetters: DeadLetterWriter;
  private readonly inFlight = new Set<Promise<void>>();
  private generation = 0;
  private assignment: Record<string, number[]> = {};
  private readonly startPositions: StartPositions;

  constructor(private readonly options: ConsumerRunnerOptions) {
    this.logger = options.logger ?? stderrLogger;
    // One fetch over all partitions: what was asked for, or twelve partitions' worth of their limit.
    const maxBytes = options.maxBytes ?? (options.maxBytesPerPartition ? options.maxBytesPerPartition * 12 : undefined);
    for (const s of options.subscriptions) this.subs.set(s.topic.name, s as unknown as Subscription<unknown>);
    this.consumer = options.kafka.consumer({
      groupId: options.groupId,
      sessionTimeout: options.sessionTimeoutMs ?? 10000,
      heartbeatInterval: Math.min(3000, Math.floor((options.sessionTimeoutMs ?? 10000) / 3)),
      allowAutoTopicCreation: false,
      ...(options.maxBytesPerPartition ? { maxBytesPerPartition: options.maxBytesPerPartition } : {}),
      ...(maxBytes ? { maxBytes } : {}),
    });
    this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => {
      this.committer?.newGeneration();
      this.generation += 1;
      this.assignment = e.payload.memberAssignment;
      this.startPositions.newGeneration();
      void this.startPositions.pin(e.payload.memberAssignment, this.generation);
      options.group?.joined?.(e.payload.memberAssignment, this.generation);
    });
    this.consumer.on(this.consumer.events.REBALANCING, () => options.group?.rebalancing?.());
    this.consumer.on(this.consumer.events.CRASH, (e) => {
      const { error, restart } = e.payload as { error: Error & { cause?: Error }; restart: boolean };
      this.logger.error(
        { groupId: options.groupId, err: error.message, cause: error.cause?.message, restart },
        restart ? 'consumer crashed; KafkaJS restarts it' : 'consumer crashed and stopped',
      );
    });
    // Without autoCommit KafkaJS commits nothing for a batch of only transaction markers.
    onSkippedBatches(this.consumer, (topic, partition, next) => {
      if (!this.running || !this.subs.has(topic)) return;
      this.commitNext({ topic, partition, offset: next.toString() }).catch((err: Error) =>
        this.logger.warn({ topic, partition, err: err.message }, 'marker commit failed'),
      );
    });
    if (options.commitIntervalMs !== undefined)
      this.committer = new IntervalCommitter(this.consumer, options.commitIntervalMs, this.logger);
    this.admission = new RecordAdmission(options);
    this.startPositions = new StartPositions({
      kafka: options.kafka,
      groupId: options.groupId,
      readsFromEnd: (topic) => {
        const sub = this.subs.get(topic);
        return sub !== undefined && !(sub.fromBeginning ?? options.fromBeginning ?? true);
      },
      commit: (offsets) => this.consumer.commitOffsets(offsets),
      stillCurrent: (generation) => generation === this.generation && this.running,
      logger: this.logger,
    });
    this.deadLetters = new DeadLetterWriter({ ...options, logger: this.logger });
    this.pauses = new PartitionPauses(this.logger, options);
  }

  get groupId(): string {
    return this.options.groupId;
  }

  /** Joins the group and starts consuming; resolves once the consumer runs (not when it stops). */
  async start(): Promise<void> {
    await this.consumer.connect();
    for (const [name, sub] of this.subs) {
      await this.consumer.subscribe({
        topic: name,
        fromBeginning: sub.fromBeginning ?? this.options.fromBeginning ?? true,
      });
    }
    this.running = true;
    this.committer?.start();
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.options.partitionsConsumedConcurrently ?? 1,
      eachBatch: (payload) => this.processBatch(payload),
    });
  }

  /** Leaves the group after the batch in flight is done; uncommitted work is redelivered to the next owner. */
  async stop(): Promise<void> {
    this.running = false;
    this.pauses.stop();
    // Batches in flight finish first (no new one starts) and commit while this consumer is still a
    // member of the group: KafkaJS's disconnect does not wait for a batch's handler, it leaves the
    // group under it, and a batch handled but not committed would run again on the next owner.
    await Promise.all(this.inFlight);
    await this.committer?.stop();
    await this.consumer.disconnect();
    await this.startPositions.close();
  }

  /** Lets a caller observe rebalances (e.g. to hand over per-partition state). */
  onGroupJoin(listener: (assignment: Record<string, number[]>) => void): void {
    this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => listener(e.payload.memberAssignment));
  }

  /** Records the position after a batch: committed now, or with the interval committer's next commit. */
  private async commitNext(next: { topic: string; partition: number; offset: string }): Promise<void> {
    this.startPositions.advancedBy(next.topic, next.partition);
    if (this.committer) this.committer.record(next);
    else await this.consumer.commitOffsets([next]);
  }

  private processBatch(payload: EachBatchPayload): Promise<void> {
    if (!this.running) return Promise.resolve(); // stopping: unresolved, the next owner gets it
    const done = this.handleBatch(payload).finally(() => this.inFlight.delete(done));
    this.inFlight.add(done);
    return done;
  }

  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, heartbeat, isRunning, isStale, pause } = payload;
    if (batch.isEmpty()) return;
    const sub = this.subs.get(batch.topic);
    if (!sub) throw new Error(`no subscription for topic ${batch.topic}`);
    const attempts = this.options.attemptsBeforePause ?? 3;

    for (let attempt = 1; ; attempt++) {
      if (!this.running || !isRunning() || isStale()) return; // shutting down or rebalanced away: the next owner redoes it
      const started = performance.now();
      try {
        await this.handleOnce(sub, batch);
        this.options.metrics?.batchSeconds?.observe(
          { topic: batch.topic, outcome: 'ok' },
          (performance.now() - started) / 1000,
        );
        const next = {
          topic: batch.topic,
          partition: batch.partition,
          offset: (BigInt(batch.lastOffset()) + 1n).toString(),
        };
        await this.commitNext(next);
        payload.resolveOffset(batch.lastOffset());
        this.pauses.succeeded(batch.topic, batch.partition);
        this.options.metrics?.consumerLag?.set(
          { topic: batch.topic, partition: batch.partition, group: this.options.groupId },
          Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(batch.lastOffset()) - 1n)),
        );
        await heartbeat();
        return;
      } catch (e) {
        if (e instanceof PartitionNotReady) {
          this.pauses.untilReady(batch.topic, batch.partition, e, pause);
          return; // unresolved: the same records come back on resume
        }
        // The group moved on (a rebalance, or this member was evicted while stalled): KafkaJS must
        // rejoin now; retrying the commit would only fail again. The next owner redoes the batch.
        const rejoin = findKafkaErrorOfType(e, REBALANCE_ERRORS);
        if (rejoin) throw rejoin;
        this.options.metrics?.batchFailures.inc({ topic: batch.topic });
        this.options.metrics?.batchSeconds?.observe(
          { topic: batch.topic, outcome: 'failed' },
          (performance.now() - started) / 1000,
        );
        this.logger.warn(
          {
            topic: batch.topic,
            partition: batch.partition,
            firstOffset: batch.firstOffset(),
            attempt,
            err: (e as Error).message,
          },
          'batch failed; it will be retried, offsets stay uncommitted',
        );
        if (attempt >= attempts) {
          this.pauses.withBackoff(batch.topic, batch.partition, pause);
          return; // unresolved: KafkaJS fetches the same records again on resume
        }
        await sleep(Math.min(2000, 100 * 2 ** attempt));
        await heartbeat().catch(() => undefined);
      }
    }
  }

  private async handleOnce(sub: Subscription<unknown>, batch: Batch): Promise<void> {
    const good: Array<ConsumedRecord<unknown>> = [];
    const rejected: Rejected[] = [];
    const spans: Span[] = [];
    for (const message of batch.messages) {
      if (sub.acceptKey && message.key && !sub.acceptKey(message.key.toString())) continue;
      const accepted = this.admission.accept(sub.topic, batch, message, sub.tombstones === true);
      const outcome = accepted instanceof Promise ? await accepted : accepted;
      if ('reason' in outcome) {
        rejected.push(outcome);
        continue;
      }
      spans.push(outcome.span);
      good.push(outcome.record);
    }
    try {
      const info: BatchInfo = {
        topic: batch.topic,
        partition: batch.partition,
        firstOffset: batch.firstOffset() ?? batch.messages[0]?.offset ?? '0',
        lastOffset: batch.lastOffset(),
        highWatermark: batch.highWatermark,
        generation: this.generation,
        assignment: this.assignment[batch.topic] ?? [batch.partition],
      };
      const result = good.length > 0 || sub.includeEmptyBatches ? await sub.handler(good, info) : undefined;
      for (const r of result?.rejected ?? []) {
        const message = batch.messages.find((m) => m.offset === r.record.offset);
        if (message) rejected.push({ message, reason: 'rejected', error: r.error });
      }
      await this.deadLetters.write(sub.topic, batch, rejected);
      this.options.metrics?.recordsProcessed.inc({ topic: batch.topic }, good.length - (result?.rejected?.length ?? 0));
    } catch (e) {
      if (e instanceof PartitionNotReady) throw e; // not an error of these records: they come back
      for (const s of spans) s.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error).message });
      throw e;
    } finally {
      for (const s of spans) s.end();
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Backoff {
  initialMs: number;
  factor: number;
  maxMs: number;
  /** Each delay is drawn from [d x (1 - jitter), d x (1 + jitter)]: a burst of failures does not retry in lockstep. */
  jitter: number;
}

/** The delay before retry number `retry` (1 = the first retry): exponential, capped, jittered. */
export function backoffDelay(b: Backoff, retry: number, random: () => number = Math.random): number {
  const base = Math.min(b.maxMs, b.initialMs * b.factor ** (retry - 1));
  return Math.round(base * (1 - b.jitter + 2 * b.jitter * random()));
}

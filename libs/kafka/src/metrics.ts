/**
 * A counter as the runtime needs one. prom-client's Counter satisfies it; the runtime itself does
 * not load a metrics library, so an agent embedding the SDK pays for none unless its host opts in.
 */
export interface CounterLike<L extends string> {
  inc(labels: Partial<Record<L, string | number>>, value?: number): void;
}

/** A gauge as the runtime needs one (prom-client's Gauge satisfies it). */
export interface GaugeLike<L extends string> {
  set(labels: Partial<Record<L, string | number>>, value: number): void;
}

/** A histogram as the runtime needs one (prom-client's Histogram satisfies it); values in seconds. */
export interface HistogramLike<L extends string> {
  observe(labels: Partial<Record<L, string | number>>, value: number): void;
}

/** What the producer and consumer runner measure; a service registers them on its registry. */
export interface EventsMetrics {
  recordsProcessed: CounterLike<'topic'>;
  deadLetters: CounterLike<'topic' | 'reason'>;
  batchFailures: CounterLike<'topic'>;
  partitionPauses: CounterLike<'topic'>;
  /** Records behind the partition's end after each committed batch, per consumer group. */
  consumerLag?: GaugeLike<'topic' | 'partition' | 'group'>;
  /** How long a batch's handler (its Redis calls, its sends) took, failed attempts included. */
  batchSeconds?: HistogramLike<'topic' | 'outcome'>;
  /** How long each produce request took to be acknowledged by all in-sync replicas. */
  sendSeconds?: HistogramLike<'topic'>;
}

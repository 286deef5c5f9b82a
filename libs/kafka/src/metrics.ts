/**
 * A counter as the runtime needs one. prom-client's Counter satisfies it; the runtime itself does
 * not load a metrics library, so an agent embedding the SDK pays for none unless its host opts in.
 */
export interface CounterLike<L extends string> {
  inc(labels: Partial<Record<L, string | number>>, value?: number): void;
}

/** The counters the producer and consumer runner keep; a service registers them on its registry. */
export interface EventsMetrics {
  recordsProcessed: CounterLike<'topic'>;
  deadLetters: CounterLike<'topic' | 'reason'>;
  batchFailures: CounterLike<'topic'>;
  partitionPauses: CounterLike<'topic'>;
}

export const STATE_SYNC_METRICS = Symbol('state-sync.metrics');
/** The changelog's producers (an EventProducerPool): one per group of input partitions. */
export const CHANGELOG_PRODUCERS = Symbol('state-sync.changelog-producers');

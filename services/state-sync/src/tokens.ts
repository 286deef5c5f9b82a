export const STATE_SYNC_METRICS = Symbol('state-sync.metrics');
/** The changelog's producers (PartitionProducers): one transactional producer per owned partition. */
export const CHANGELOG_PRODUCERS = Symbol('state-sync.changelog-producers');

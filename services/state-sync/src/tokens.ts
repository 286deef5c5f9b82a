export const STATE_SYNC_METRICS = Symbol('state-sync.metrics');

// Public API of @vigil/redis-keys: every Redis key Vigil writes, in one place, so services, tests,
// benchmarks and operators' tools name them the same way. Every key carries a hash tag, so a script
// touches one slot and runs unchanged on Redis Cluster.
export { stateSyncKeys } from './state-keys';
export { leaseKeys } from './lease-keys';
export { notifierKeys, deliveryKeys, alertIndexKeys } from './notifier-keys';
export { backupKeys } from './backup-keys';

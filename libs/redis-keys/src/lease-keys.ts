/**
 * The heartbeat service's keys. A partition's keys share one hash slot ({hb:<group>:N}), so one
 * MULTI covers them on a Redis Cluster too. Leases belong to the consumer group that owns the partitions.
 */
export const leaseKeys = (group: string, partition: number) => ({
  /** Hash: agent id -> the lease (JSON). */
  leases: `vigil:{hb:${group}:${partition}}:leases`,
  /** Hash: the partition's broker-time clock and bookkeeping. */
  meta: `vigil:{hb:${group}:${partition}}:meta`,
  /** List: liveness transitions persisted but not yet acknowledged by Kafka. */
  outbox: `vigil:{hb:${group}:${partition}}:outbox`,
  /** List: agent registrations (or `{"tombstone": agentId}`) persisted but not yet acknowledged by Kafka. */
  registryOutbox: `vigil:{hb:${group}:${partition}}:registry-outbox`,
});

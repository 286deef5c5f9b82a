/**
 * The notifier's keys. Work is sharded like its input: a shard is the partition an agent's events
 * land on (liveness and heal results are both keyed by agent id over 6 partitions). A shard's keys
 * share one hash slot ({nt:<group>:N}), so one script covers them on a Redis Cluster too.
 */
export const notifierKeys = (group: string, shard: number) => ({
  /** Hash: agent id -> the agent's incident record (JSON, with its revision). */
  incidents: `vigil:{nt:${group}:${shard}}:incidents`,
  /** Sorted set: agent id scored by when its incident next needs attention (ms since epoch). */
  due: `vigil:{nt:${group}:${shard}}:due`,
  /** List: records written with a state change and not yet acknowledged by Kafka. */
  outbox: `vigil:{nt:${group}:${shard}}:outbox`,
  /** Hash: agent id -> its registration (JSON), from vigil.agent.registry: who the agent is. */
  agents: `vigil:{nt:${group}:${shard}}:agents`,
});

/**
 * Webhook deliveries not yet acknowledged by their receiver, sharded like vigil.alerts (keyed by
 * fingerprint): the owner of an alerts partition sends what is due on its shard.
 */
export const deliveryKeys = (group: string, shard: number) => ({
  /** Hash: delivery id -> the pending delivery (JSON: receiver, alert, attempts, last error). */
  pending: `vigil:{nd:${group}:${shard}}:pending`,
  /** Sorted set: delivery id scored by when to try it next (ms since epoch). */
  due: `vigil:{nd:${group}:${shard}}:due`,
});

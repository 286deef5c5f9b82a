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
  /** Set: ids of the agents the registry places on `host` (kept in the shard of `host/<host>`). */
  hostAgents: (host: string) => `vigil:{nt:${group}:${shard}}:host:${host}:agents`,
  /** Set: ids of the agents on `host` whose liveness is unreachable now. */
  hostUnreachable: (host: string) => `vigil:{nt:${group}:${shard}}:host:${host}:unreachable`,
  /** Hash: agent id -> `since` of its newest liveness event applied to the host's set (older ones are replays). */
  hostSince: (host: string) => `vigil:{nt:${group}:${shard}}:host:${host}:since`,
});

/**
 * Alert groups and their notifications not yet acknowledged by their receiver, sharded over the
 * partitions of vigil.alerts by group id: the owner of an alerts partition flushes that shard's
 * groups and sends its notifications. One hash slot per shard, so a flush and the notification it
 * queues are one script.
 */
export const deliveryKeys = (group: string, shard: number) => ({
  /** Hash: delivery id -> the pending notification (JSON: receiver, body, attempts, last error). */
  pending: `vigil:{nd:${group}:${shard}}:pending`,
  /** Sorted set: delivery id scored by when to try it next (ms since epoch). */
  due: `vigil:{nd:${group}:${shard}}:due`,
  /** Hash: group id -> the group's bookkeeping (JSON: route, receiver, labels, what was notified, when). */
  groups: `vigil:{nd:${group}:${shard}}:groups`,
  /** Sorted set: group id scored by its next flush (group_wait after it opened, then every group_interval). */
  groupDue: `vigil:{nd:${group}:${shard}}:group-due`,
  /** Hash: fingerprint -> the newest state of each alert in the group (JSON AlertEvent). */
  groupAlerts: (groupId: string) => `vigil:{nd:${group}:${shard}}:group:${groupId}`,
});

/**
 * What the notifier knows across shards: open alerts, the inhibition index and silences. One slot
 * each, so lookups pipeline on a Redis Cluster too.
 */
export const alertIndexKeys = (group: string) => ({
  /** Hash: fingerprint -> the alert (JSON AlertEvent), while it fires. */
  open: `vigil:{na:${group}}:open`,
  /** Set per inhibit rule and equal-label values (or depended-on agent): fingerprints of firing sources. */
  inhibitSources: (slot: string) => `vigil:{na:${group}}:inhibit:${slot}`,
  /** Hash: silence id -> the silence (JSON). */
  silences: `vigil:{na:${group}}:silences`,
});

/**
 * state-sync's keys. Everything of one input partition shares one hash slot ({ss:N}), N being the
 * vigil.agent.state-changes partition an entity's events arrive on, which is also the changelog
 * partition its records go to: a slice of a partition's batch is one script on a Redis Cluster too,
 * and the partition's checkpoint lives on the same master as the state it vouches for, so losing
 * that master's data loses the checkpoint with it (which is how a loss is noticed and rebuilt).
 * An entity is found by its partition; a reader that does not know it asks every partition.
 */
export const stateSyncKeys = (partition: number) => {
  const tag = `vigil:{ss:${partition}}`;
  return {
    /** Hash: the entity's latest state, and `published`, the newest version the changelog holds. */
    state: (entityId: string) => `${tag}:e:${entityId}:state`,
    /** Sorted set: ids of the entity's applied events the changelog may not hold yet, by version. */
    unpublished: (entityId: string) => `${tag}:e:${entityId}:unpublished`,
    /** Set: the agent's entities whose events arrive on this partition. */
    agentEntities: (agentId: string) => `${tag}:a:${agentId}:entities`,
    /** String: `<kafka cluster id>@<offset>`, the changelog offset before which Redis reflects every record. */
    checkpoint: `${tag}:changelog-checkpoint`,
  };
};

// state-sync: latest state per entity, its recent event ids, the entities per agent, and the changelog
// checkpoint per partition.
export const stateKey = (entityId: string) => `vigil:{e:${entityId}}:state`;
export const seenKey = (entityId: string) => `vigil:{e:${entityId}}:seen`;
export const agentEntitiesKey = (agentId: string) => `vigil:{a:${agentId}}:entities`;
export const checkpointKey = (partition: number) => `vigil:{p:${partition}}:changelog-checkpoint`;

// state-sync: latest state per entity, the ids of its applied events not yet in the changelog, the entities per agent, and the changelog
// checkpoint per partition.
export const stateKey = (entityId: string) => `vigil:{e:${entityId}}:state`;
export const unpublishedKey = (entityId: string) => `vigil:{e:${entityId}}:unpublished`;
export const agentEntitiesKey = (agentId: string) => `vigil:{a:${agentId}}:entities`;
export const checkpointKey = (partition: number) => `vigil:{p:${partition}}:changelog-checkpoint`;

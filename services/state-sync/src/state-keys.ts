// Every key carries a hash tag, so a script touches one slot and runs unchanged on Redis Cluster.
export const stateKey = (entityId: string) => `vigil:{e:${entityId}}:state`;
export const seenKey = (entityId: string) => `vigil:{e:${entityId}}:seen`;
export const agentEntitiesKey = (agentId: string) => `vigil:{a:${agentId}}:entities`;
export const checkpointKey = (partition: number) => `vigil:{p:${partition}}:changelog-checkpoint`;

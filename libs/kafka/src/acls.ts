import { allTopics, type Party } from '@vigil/events';
import { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes, type AclEntry } from 'kafkajs';
import type { KafkaClient } from './kafka-client';

/** Where Vigil's topics live: every name in the catalogue starts with it. */
const TOPIC_PREFIX = 'vigil.';

/** A principal's right, written as people read ACLs. */
export interface Right {
  operation: 'READ' | 'WRITE' | 'DESCRIBE';
  resource: 'topic' | 'group' | 'transactional-id';
  /** A name, or a prefix when it ends with '*'. */
  name: string;
}

/**
 * The rights a party needs, from the catalogue's writers and readers: WRITE on what it writes (its
 * dead letters included: a reader writes its topic's DLQ), READ on what it reads, DESCRIBE on every
 * Vigil topic (a service checks the catalogue's topics exist at start; topics are created by an
 * administrator where ACLs apply), and READ on its consumer groups (`groupPrefix*`: the service's
 * group and the groups it derives from it), and WRITE on its transactional ids (`groupPrefix*`)
 * where it writes a transactional topic. Nothing else: no CREATE, no ALTER, no cluster rights.
 */
export function rightsOf(party: Party, groupPrefix: string): Right[] {
  const rights: Right[] = [{ operation: 'DESCRIBE', resource: 'topic', name: `${TOPIC_PREFIX}*` }];
  for (const t of allTopics()) {
    if (t.producers.includes(party)) rights.push({ operation: 'WRITE', resource: 'topic', name: t.name });
    if (t.consumers.includes(party)) rights.push({ operation: 'READ', resource: 'topic', name: t.name });
  }
  rights.push({ operation: 'READ', resource: 'group', name: `${groupPrefix}*` });
  if (allTopics().some((t) => t.transactional && t.producers.includes(party)))
    rights.push({ operation: 'WRITE', resource: 'transactional-id', name: `${groupPrefix}*` });
  return rights;
}

const RESOURCE_TYPES = {
  topic: AclResourceTypes.TOPIC,
  group: AclResourceTypes.GROUP,
  'transactional-id': AclResourceTypes.TRANSACTIONAL_ID,
} as const;

/** The rights as Kafka ACL entries for `User:<user>`, from any host. */
export function aclEntries(user: string, rights: Right[]): AclEntry[] {
  return rights.map((r) => ({
    principal: `User:${user}`,
    host: '*',
    operation: AclOperationTypes[r.operation],
    permissionType: AclPermissionTypes.ALLOW,
    resourceType: RESOURCE_TYPES[r.resource],
    resourceName: r.name.endsWith('*') ? r.name.slice(0, -1) : r.name,
    resourcePatternType: r.name.endsWith('*') ? ResourcePatternTypes.PREFIXED : ResourcePatternTypes.LITERAL,
  }));
}

/** Creates the ACLs (an administrator's client: ALTER on the cluster). Creating one twice is harmless. */
export async function grantRights(kafka: KafkaClient, user: string, rights: Right[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createAcls({ acl: aclEntries(user, rights) });
  } finally {
    await admin.disconnect();
  }
}

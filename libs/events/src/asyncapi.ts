import type { Schema } from 'avsc';
import { RecordHeaderMeanings, RecordHeaderNames } from './headers';
import { SchemaCodec } from './codec';
import { Topics, type Party, type TopicDef } from './topics';

/** AsyncAPI's schema format for Avro 1.9 schemas written as JSON. */
const AVRO = 'application/vnd.apache.avro+json;version=1.9.0';
const KAFKA_BINDING = '0.5.0';

/** Where a local Vigil runs (infra/up.sh); a deployment states its own servers. */
export interface AsyncApiServers {
  broker: string;
  registryUrl: string;
}

const DEFAULT_SERVERS: AsyncApiServers = {
  broker: '127.0.0.1:9092',
  registryUrl: 'http://127.0.0.1:8081/apis/ccompat/v7',
};

const TRACE_HEADERS = {
  traceparent: {
    type: 'string',
    description:
      'W3C Trace Context of the span that published the record, when it is part of a trace (its writer traces, or what caused it carried one).',
  },
  tracestate: { type: 'string', description: 'W3C Trace Context vendor state, when the publisher had any.' },
} as const;

const SEMANTICS = `Every topic is keyed and partitioned by that key (murmur2, as Kafka's Java client does), so
records of one key are in order; nothing is ordered across keys. Values are Avro, in the Confluent
wire format (magic byte 0, the schema id as 4 bytes big-endian, then the Avro binary), with the
writer's schema registered under \`<topic>-value\` (TopicNameStrategy) at FULL_TRANSITIVE
compatibility: a reader with any registered version reads every record. Delivery is at least once:
a reader must tolerate a record twice (Vigil's own readers dedupe: state changes by event id, then
by version; commands by command id). Every topic has a dead-letter companion \`<topic>.dlq\` where its
reader puts what it refused, with the reason, before it commits the offset past it: nothing valid
is held back by a bad record, and nothing is dropped silently.`;

const camel = (name: string) => name.replace(/[.-](\w)/g, (_, c: string) => c.toUpperCase());
const pascal = (name: string) => camel(name).replace(/^\w/, (c) => c.toUpperCase());
const numeric = (v: string): string | number => (/^-?\d+$/.test(v) ? Number(v) : v);

/** Kafka's topic config as AsyncAPI's Kafka binding states it (cleanup.policy is a list there). */
function topicConfiguration(config: Readonly<Record<string, string>>) {
  const out: Record<string, unknown> = { 'cleanup.policy': (config['cleanup.policy'] ?? 'delete').split(',') };
  for (const [k, v] of Object.entries(config)) if (k !== 'cleanup.policy') out[k] = numeric(v);
  return out;
}

function who(parties: readonly Party[]): string {
  return parties.join(', ');
}

function keyDescription(def: TopicDef<unknown>): string {
  switch (def.keyAttribute) {
    case 'vigil.agent.id':
      return 'The agent id.';
    case 'vigil.entity.id':
      return 'The entity id.';
    case 'vigil.alert.fingerprint':
      return "The alert's fingerprint (a hash of its identifying labels).";
    default:
      return 'The source record\'s position: "<topic>/<partition>/<offset>".';
  }
}

function message(def: TopicDef<unknown>, schemaName: string) {
  const headers = Object.fromEntries([
    ...Object.entries(TRACE_HEADERS),
    ...(def.headers ?? []).map((h) => [RecordHeaderNames[h], { type: 'string', description: RecordHeaderMeanings[h] }]),
  ]);
  return {
    name: schemaName,
    title: schemaName,
    summary: def.summary,
    contentType: 'application/vnd.apache.avro',
    headers: { type: 'object', properties: headers },
    payload: { schemaFormat: AVRO, schema: def.schema },
    bindings: {
      kafka: {
        key: { type: 'string', description: keyDescription(def) },
        schemaIdLocation: 'payload',
        schemaIdPayloadEncoding: 'confluent',
        schemaLookupStrategy: 'TopicIdStrategy',
        bindingVersion: KAFKA_BINDING,
      },
    },
  };
}

/**
 * The AsyncAPI 3 document of Vigil's topics, made from the catalogue (libs/events/src/topics.ts):
 * one channel per topic and per dead-letter topic with its key, partitions, config, Avro schema,
 * headers and semantics; a send operation per writer and a receive operation per reader. The
 * checked-in libs/events/asyncapi.yaml is this, written by `npm run -s asyncapi`; a test fails when
 * the two differ or when the AsyncAPI parser finds the document invalid.
 */
export function asyncApiDocument(version: string, servers: AsyncApiServers = DEFAULT_SERVERS): Record<string, unknown> {
  const defs = Object.values(Topics) as TopicDef<unknown>[];
  const all = defs.flatMap((d) => (d.dlq ? [d, d.dlq as TopicDef<unknown>] : [d]));
  const messageName = (def: TopicDef<unknown>) => (def.schema as Exclude<Schema, string> & { name: string }).name;
  const channels: Record<string, unknown> = {};
  const operations: Record<string, unknown> = {};
  const messages: Record<string, unknown> = {};
  for (const def of all) {
    const id = camel(def.name);
    // Topics that share a schema share its message, unless one adds headers (the changelog's).
    const name = def.headers ? pascal(def.name) : messageName(def);
    messages[name] ??= message(def, messageName(def));
    channels[id] = {
      address: def.name,
      title: def.name,
      description:
        `${def.summary}\n\nWritten by: ${who(def.producers)}. Read by: ${who(def.consumers)}.` +
        (def.tombstones ? ' Compacted: a record with a key and no value (a tombstone) deletes the key.' : '') +
        `\n\nSchema subject: \`${SchemaCodec.subjectOf(def.name)}\`.`,
      messages: { [name]: { $ref: `#/components/messages/${name}` } },
      bindings: {
        kafka: {
          topic: def.name,
          partitions: def.partitions,
          topicConfiguration: topicConfiguration(def.config),
          bindingVersion: KAFKA_BINDING,
        },
      },
      'x-schema-subject': SchemaCodec.subjectOf(def.name),
    };
    const ref = { $ref: `#/channels/${id}` };
    const messageRef = [{ $ref: `#/channels/${id}/messages/${name}` }];
    for (const party of def.producers)
      operations[camel(`${party}-sends-${def.name}`.replace(/ /g, '-'))] = {
        action: 'send',
        channel: ref,
        summary: `${party} writes ${def.name}.`,
        messages: messageRef,
      };
    for (const party of def.consumers)
      operations[camel(`${party}-receives-${def.name}`.replace(/ /g, '-'))] = {
        action: 'receive',
        channel: ref,
        summary: `${party} reads ${def.name}.`,
        messages: messageRef,
      };
  }
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Vigil',
      version,
      description:
        "Vigil's topics: what agents publish, what Vigil's services publish, and what another system may read.\n\n" +
        SEMANTICS,
      license: { name: 'Apache-2.0' },
    },
    defaultContentType: 'application/vnd.apache.avro',
    servers: {
      local: {
        host: servers.broker,
        protocol: 'kafka',
        description: 'The broker infra/up.sh starts; a deployment names its own.',
        bindings: {
          kafka: {
            schemaRegistryUrl: servers.registryUrl,
            schemaRegistryVendor: 'confluent',
            bindingVersion: KAFKA_BINDING,
          },
        },
      },
    },
    channels,
    operations,
    components: { messages },
  };
}

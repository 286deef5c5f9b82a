// Vigil for systems that are not written with Vigil's code: an agent and a reader that know only
// the broker, the registry URL and what the README's two contract sections and the AsyncAPI document
// say. Both are written here with KafkaJS and the registry client alone (standing in for any
// language's Kafka and registry clients); no @vigil package touches a record they send or read.
// The services they talk to are the real ones, started by the test kit.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
// eslint-disable-next-line no-restricted-imports -- the point: another language's client, not Vigil's runtime
import { Kafka, logLevel, Partitioners, type Consumer, type Producer } from 'kafkajs';
import { parse } from 'yaml';
import {
  freePort,
  repoRoot,
  startHeartbeat,
  startNotifier,
  startService,
  stopProcess,
  waitServiceReady,
  waitUntil,
  type RunningHeartbeat,
  type RunningNotifier,
  type ServiceProcess,
} from '@vigil/test-kit';

const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const registryUrl = process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';
const run = randomUUID().slice(0, 8);
const agentId = `ol${run}-agent`;
const kept = `ol${run}-kept`;
const gone = `ol${run}-gone`;
const work = mkdtempSync(path.join(tmpdir(), 'vigil-other-languages-'));

/** The Avro schema of a topic's messages, as the AsyncAPI document gives it. */
function schemaOf(topic: string): object {
  const doc = parse(readFileSync(path.join(repoRoot, 'libs/events/asyncapi.yaml'), 'utf8')) as {
    channels: Record<string, { address: string; messages: Record<string, { $ref: string }> }>;
    components: { messages: Record<string, { payload: { schema: object } }> };
  };
  const channel = Object.values(doc.channels).find((c) => c.address === topic)!;
  const ref = Object.values(channel.messages)[0]!.$ref.split('/').at(-1)!;
  return doc.components.messages[ref]!.payload.schema;
}

/** Registers the schema under `<topic>-value` (the registry answers the existing id for the same schema). */
async function schemaId(topic: string): Promise<number> {
  const res = await fetch(`${registryUrl}/subjects/${topic}-value/versions`, {
    method: 'POST',
    headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    body: JSON.stringify({ schemaType: 'AVRO', schema: JSON.stringify(schemaOf(topic)) }),
  });
  assert.equal(res.status, 200, `registering ${topic}-value: ${await res.clone().text()}`);
  return ((await res.json()) as { id: number }).id;
}

interface Read {
  topic: string;
  key: string;
  value: Record<string, unknown> | null;
  headers: Record<string, string>;
}

describe('an agent and a reader in another language, by the wire contract alone', { timeout: 240_000 }, () => {
  const kafka = new Kafka({ clientId: `other-language-${run}`, brokers, logLevel: logLevel.NOTHING });
  const registry = new SchemaRegistry({ host: registryUrl });
  let producer: Producer;
  let reader: Consumer;
  const read: Read[] = [];
  let heartbeat: RunningHeartbeat;
  let stateSync: ServiceProcess;
  let stateSyncPort: number;
  let notifier: RunningNotifier;
  let beating: NodeJS.Timeout | undefined;

  before(async () => {
    const policy = path.join(work, 'notifier.yaml');
    writeFileSync(policy, 'heal: { maxAttempts: 1, timeoutMs: 2000 }\n');
    stateSyncPort = await freePort();
    stateSync = startService('state-sync', { ...process.env, HTTP_PORT: String(stateSyncPort), LOG_LEVEL: 'warn' });
    [heartbeat, notifier] = await Promise.all([
      startHeartbeat(`ol-heartbeat-${run}`, { LOG_LEVEL: 'warn' }, { ownAllPartitions: true }),
      startNotifier(`ol-notifier-${run}`, { LOG_LEVEL: 'warn', NOTIFIER_POLICY_FILE: policy }),
      waitServiceReady(stateSync, stateSyncPort, 60_000, 'state-sync'),
    ]);

    // The reader: a consumer group of its own on four of Vigil's topics, from the beginning (the
    // changelog read as a table), decoding by the schema id each value carries.
    reader = kafka.consumer({ groupId: `other-language-reader-${run}` });
    await reader.connect();
    for (const topic of ['vigil.state.changelog', 'vigil.agent.liveness', 'vigil.heal.commands', 'vigil.alerts'])
      await reader.subscribe({ topic, fromBeginning: true });
    await reader.run({
      eachMessage: async ({ topic, message }) => {
        const key = message.key?.toString() ?? '';
        // Keys are plain strings: skip what is not ours before decoding (alerts are keyed by fingerprint).
        if (!key.startsWith(`ol${run}`) && topic !== 'vigil.alerts') return;
        const value = message.value ? ((await registry.decode(message.value)) as Record<string, unknown>) : null;
        if (topic === 'vigil.alerts' && (value?.labels as Record<string, string>)?.agent !== agentId) return;
        const headers = Object.fromEntries(
          Object.entries(message.headers ?? {}).map(([k, v]) => [k, (Array.isArray(v) ? v[0] : v)?.toString() ?? '']),
        );
        read.push({ topic, key, value, headers });
      },
    });
    producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
  });

  after(async () => {
    clearInterval(beating);
    await producer?.disconnect();
    await reader?.disconnect();
    await Promise.all([heartbeat, stateSync, notifier].filter((p) => p !== undefined).map((p) => stopProcess(p.child)));
    rmSync(work, { recursive: true, force: true });
  });

  it('publishes heartbeats and state changes that heartbeat and state-sync accept', async () => {
    const heartbeatSchema = await schemaId('vigil.agent.heartbeats');
    const changeSchema = await schemaId('vigil.agent.state-changes');
    const bootId = randomUUID();
    let sequence = 0;
    const beat = async () =>
      producer.send({
        topic: 'vigil.agent.heartbeats',
        acks: -1,
        messages: [
          {
            key: agentId,
            value: await registry.encode(heartbeatSchema, {
              agentId,
              host: `ol${run}-host`,
              status: 'ok',
              sequence: sequence++,
              bootId,
              timestamp: Date.now(),
              intervalMs: 1000,
              missThreshold: 3,
              startPeriodMs: 0,
              agentVersion: '1.0.0-go',
              priorityTier: 1,
              dependencies: [],
              labels: { lang: 'other' },
              checks: [{ name: 'disk', ok: true, detail: null }],
              metrics: { load: 0.5 },
            }),
          },
        ],
      });
    await beat();
    beating = setInterval(() => void beat().catch(() => undefined), 1000);

    const change = (entityId: string, version: number, eventType: string, payload: unknown) =>
      registry
        .encode(changeSchema, {
          eventId: randomUUID(),
          entityId,
          entityType: 'service',
          agentId,
          eventType,
          version,
          timestamp: Date.now(),
          payload: payload === null ? null : JSON.stringify(payload),
          checksum: null,
        })
        .then((value) => ({ key: entityId, value }));
    // In order per entity: one kept at version 1, one deleted at version 2.
    await producer.send({
      topic: 'vigil.agent.state-changes',
      acks: -1,
      messages: [
        await change(kept, 0, 'created', { replicas: 1 }),
        await change(kept, 1, 'updated', { replicas: 3 }),
        await change(gone, 0, 'created', {}),
        await change(gone, 1, 'updated', {}),
        await change(gone, 2, 'deleted', null),
      ],
    });

    await waitUntil(
      async () => (await fetch(`http://127.0.0.1:${stateSyncPort}/entities/${kept}`)).ok,
      30_000,
      'state-sync to serve the kept entity',
    );
    const entity = (await (await fetch(`http://127.0.0.1:${stateSyncPort}/entities/${kept}`)).json()) as {
      version: number;
      payload: unknown;
    };
    assert.equal(entity.version, 1);
    assert.deepEqual(entity.payload, { replicas: 3 });
    // The two entities may sit on different partitions, applied independently: wait for this one too.
    let answer = '';
    await waitUntil(
      async () => {
        const deleted = await fetch(`http://127.0.0.1:${stateSyncPort}/entities/${gone}`);
        answer = `${deleted.status} ${await deleted.text()}`;
        return deleted.status === 404 && answer.includes('deleted');
      },
      30_000,
      'state-sync to apply the deletion',
    ).catch(() => assert.fail(`the deleted entity answers ${answer}`));
    assert.match(answer, /^404 .*deleted at version 2/);

    // Heartbeat consumes on its own: the agent is known once its first beat is applied, which may
    // come after state-sync's answers.
    let agent: { state?: string; host?: string; labels?: Record<string, string> } = {};
    await waitUntil(
      async () => {
        agent = await heartbeat.fleet<typeof agent>(`/${agentId}`);
        return agent.state !== undefined;
      },
      30_000,
      'heartbeat to know the agent',
    );
    assert.equal(agent.state, 'healthy');
    assert.equal(agent.host, `ol${run}-host`);
    assert.deepEqual(agent.labels, { lang: 'other' });
  });

  it("reads the changelog as a table (with its headers and tombstones), the agent's liveness, its heal command and its alert", async () => {
    clearInterval(beating); // the agent goes silent: unreachable, a heal nobody answers, an alert
    const of = (topic: string) => read.filter((r) => r.topic === topic);
    await waitUntil(
      () => of('vigil.alerts').some((a) => a.value?.status === 'firing'),
      60_000,
      'the alert about the silent agent, read by the foreign consumer',
    );

    // The changelog as a table: the newest record per key; a null value deletes the key.
    const table = new Map<string, Read>();
    for (const r of of('vigil.state.changelog')) {
      if (r.value === null) table.delete(r.key);
      else table.set(r.key, r);
    }
    assert.deepEqual([...table.keys()], [kept]);
    assert.equal(table.get(kept)!.value!.version, 1);
    assert.equal(table.get(kept)!.headers['vigil-version'], '1');
    assert.equal(table.get(kept)!.headers['vigil-agent-id'], agentId);
    const tombstone = of('vigil.state.changelog').find((r) => r.key === gone && r.value === null)!;
    assert.ok(tombstone, 'the deletion is a tombstone');
    assert.equal(tombstone.headers['vigil-version'], '2');
    assert.match(tombstone.headers['vigil-event-id'] ?? '', /^[0-9a-f-]{36}$/);

    const states = of('vigil.agent.liveness').map((l) => l.value!.to);
    assert.equal(states[0], 'healthy', `liveness: ${states.join(' -> ')}`);
    assert.equal(states.at(-1), 'unreachable', `liveness: ${states.join(' -> ')}`);
    const heal = of('vigil.heal.commands')[0];
    assert.ok(heal, 'the heal command');
    assert.equal(heal.value!.agentId, agentId);
    assert.equal(heal.value!.action, 'restart');
    assert.equal(heal.value!.attempt, 1);
    const alert = of('vigil.alerts').find((a) => a.value?.status === 'firing')!;
    assert.equal((alert.value!.labels as Record<string, string>).agent, agentId);
  });
});

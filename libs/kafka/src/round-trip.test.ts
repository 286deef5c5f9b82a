import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SchemaCodec, EventValidationError } from '@vigil/events';
import { ConsumerRunner, type ConsumedRecord } from './consumer-runner';
import { ensureTopics } from './ensure-topics';
import { createKafkaClient } from './kafka-client';
import { EventProducer, partitionOfKey } from './producer';
import * as samples from '@vigil/events';
import { infraEnv, isolatedTopic, plain, waitUntil } from './testing';
import { Topics, type TopicDef } from '@vigil/events';

import { silentLogger as quiet } from './logger';

const cases: Array<[string, TopicDef<never>, unknown]> = [
  ['Heartbeat', Topics.heartbeats as TopicDef<never>, samples.sampleHeartbeat()],
  ['StateChangeEvent', Topics.stateChanges as TopicDef<never>, samples.sampleStateChange()],
  ['StateChangeEvent on the changelog', Topics.stateChangelog as TopicDef<never>, samples.sampleStateChange('e-9', 4)],
  ['AgentLivenessChanged', Topics.liveness as TopicDef<never>, samples.sampleLiveness()],
  ['AgentRegistration', Topics.agentRegistry as TopicDef<never>, samples.sampleRegistration()],
  ['HealCommand', Topics.healCommands as TopicDef<never>, samples.sampleHealCommand()],
  ['HealResult', Topics.healResults as TopicDef<never>, samples.sampleHealResult()],
  ['AlertEvent', Topics.alerts as TopicDef<never>, samples.sampleAlert()],
  ['BackupCommand', Topics.backupCommands as TopicDef<never>, samples.sampleBackupCommand()],
  ['BackupResult', Topics.backupResults as TopicDef<never>, samples.sampleBackupResult()],
  ['BackupVerified', Topics.backupVerified as TopicDef<never>, samples.sampleBackupVerified()],
  ['BackupRequest', Topics.backupRequests as TopicDef<never>, samples.sampleBackupRequest()],
  ['RestoreCommand', Topics.restoreCommands as TopicDef<never>, samples.sampleRestoreCommand()],
  ['RestoreResult', Topics.restoreResults as TopicDef<never>, samples.sampleRestoreResult()],
  ['DeadLetter', Topics.stateChanges.dlq as TopicDef<never>, samples.sampleDeadLetter()],
];

describe('event contracts against the real broker and registry', () => {
  const env = infraEnv();
  const kafka = createKafkaClient({ brokers: env.brokers, clientId: 'contracts-test', logger: quiet });
  const codec = new SchemaCodec({ registryUrl: env.registryUrl });
  const producer = new EventProducer(kafka, codec);
  const topics = cases.map(([, def]) => isolatedTopic(def, { partitions: 1 }));
  const received = new Map<string, Array<ConsumedRecord<unknown>>>();
  let runner: ConsumerRunner | undefined;

  before(async () => {
    await ensureTopics(kafka, topics.flatMap((t) => [t, ...(t.dlq ? [t.dlq] : [])]) as TopicDef<unknown>[], quiet);
    runner = new ConsumerRunner({
      kafka,
      codec,
      producer,
      groupId: `contracts-${randomUUID()}`,
      logger: quiet,
      subscriptions: topics.map((topic) => ({
        topic,
        handler: async (records: Array<ConsumedRecord<never>>) => {
          received.set(topic.name, [...(received.get(topic.name) ?? []), ...records]);
        },
      })),
    });
    await runner.start();
  });

  after(async () => {
    await runner?.stop().catch(() => undefined);
    await producer.disconnect();
  });

  for (const [i, [label, , value]] of cases.entries()) {
    it(`${label} round-trips through Kafka with registry encoding, keyed as the catalogue says`, async () => {
      const topic = topics[i]!;
      await producer.send(topic, [{ value: value as never }]);
      await waitUntil(() => (received.get(topic.name)?.length ?? 0) >= 1, 30000, `${label} to arrive`);
      const [record] = received.get(topic.name)!;
      assert.deepEqual(plain(record!.value), value);
      assert.equal(record!.key, topic.key(value as never));
      assert.ok(record!.schemaId > 0, 'the value carries a registry schema id');
    });
  }

  it('registers each schema under the TopicNameStrategy subject <topic>-value', async () => {
    // Asked of the registry's REST API itself, not through the codec under test.
    const res = await fetch(`${env.registryUrl}/subjects/${topics[0]!.name}-value/versions/latest`);
    assert.equal(res.status, 200);
    const latest = (await res.json()) as { id: number; schema: string };
    assert.ok(latest.id > 0);
    const schema = JSON.parse(latest.schema) as { name: string; namespace?: string };
    assert.equal(schema.namespace ? `${schema.namespace}.${schema.name}` : schema.name, 'dev.vigil.events.Heartbeat');
  });

  it('refuses to encode a value that breaks its schema, naming the field', async () => {
    const bad = { ...samples.sampleStateChange(), version: 'seven' };
    await assert.rejects(producer.send(topics[1]!, [{ value: bad as never, key: 'k' }]), (e: unknown) => {
      assert.ok(e instanceof EventValidationError);
      assert.deepEqual(e.paths, ['version']);
      return true;
    });
  });
});

describe('large sends against the real broker', () => {
  const env = infraEnv();
  const kafka = createKafkaClient({ brokers: env.brokers, clientId: 'large-send-test', logger: quiet });
  const codec = new SchemaCodec({ registryUrl: env.registryUrl });
  const producer = new EventProducer(kafka, codec);
  after(() => producer.disconnect());

  it('sends 3 MiB to one partition (over the 1 MiB batch limit) and reports the last offset', async () => {
    const topic = isolatedTopic(Topics.stateChangelog, { partitions: 1 });
    await ensureTopics(kafka, [topic] as TopicDef<unknown>[], quiet);
    const values = Array.from({ length: 3000 }, (_, i) =>
      samples.sampleStateChange(`big-${i}`, 1, { payload: JSON.stringify({ pad: 'x'.repeat(1000) }) }),
    );
    const metadata = await producer.send(
      topic,
      values.map((value) => ({ value, partition: 0 })),
    );
    assert.equal(metadata.at(-1)!.lastOffset, '2999');
  });

  it('places a key on the partition partitionOfKey names (work sharded like a topic relies on it)', async () => {
    const topic = isolatedTopic(Topics.liveness, { partitions: 6 });
    await ensureTopics(kafka, [topic] as TopicDef<unknown>[], quiet);
    for (let i = 0; i < 24; i++) {
      const key = `agent-${i}-${randomUUID()}`;
      const [md] = await producer.sendRaw(topic.name, [{ key, value: 'x' }]);
      assert.equal(md!.partition, partitionOfKey(key, 6), key);
    }
  });
});

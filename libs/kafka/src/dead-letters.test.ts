import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { SchemaCodec } from '@vigil/events';
import { ConsumerRunner, type ConsumedRecord } from './consumer-runner';
import { ensureTopics } from './ensure-topics';
import { createKafkaClient } from './kafka-client';
import { EventProducer } from './producer';
import { sampleHeartbeat, sampleStateChange } from '@vigil/events';
import { committedOffsets, infraEnv, isolatedTopic, readRecords, waitUntil, recordingMetrics } from './testing';
import { Topics, type TopicDef } from '@vigil/events';
import type { DeadLetter, StateChangeEvent } from '@vigil/events';

import { silentLogger as quiet } from './logger';
const HOUR = 3600_000;

describe('bad input is dead-lettered with a reason while valid records flow', () => {
  const env = infraEnv();
  const kafka = createKafkaClient({ brokers: env.brokers, clientId: 'dlq-test', logger: quiet });
  const codec = new SchemaCodec({ registryUrl: env.registryUrl });
  const producer = new EventProducer(kafka, codec);
  // One partition, so the order of good and bad records is the order they were sent.
  const topic = isolatedTopic(Topics.stateChanges, { partitions: 1 });
  const groupId = `dlq-${randomUUID()}`;
  const metrics = recordingMetrics();
  const handled: Array<ConsumedRecord<StateChangeEvent>> = [];
  let runner: ConsumerRunner | undefined;

  // What goes in, in order: [label, expected DLQ reason or 'valid'].
  const sent: Array<[string, string]> = [];

  before(async () => {
    await ensureTopics(kafka, [topic, topic.dlq!] as TopicDef<unknown>[], quiet);
    const encode = (v: StateChangeEvent) => codec.encode(topic, v);
    const valid = async (version: number) => ({
      key: 'entity-a',
      value: await encode(sampleStateChange('entity-a', version)),
    });
    const schemaId = (await encode(sampleStateChange())).readUInt32BE(1);
    const header = (id: number) => Buffer.from([0, (id >>> 24) & 255, (id >>> 16) & 255, (id >>> 8) & 255, id & 255]);
    const heartbeatTopic = isolatedTopic(Topics.heartbeats);

    const records: Array<[string, string, { key: string | null; value: Buffer }]> = [
      ['valid v1', 'valid', await valid(1)],
      [
        'random bytes',
        'undecodable',
        { key: 'entity-x', value: Buffer.concat([Buffer.from([0x7b]), randomBytes(64)]) },
      ],
      ['valid v2', 'valid', await valid(2)],
      [
        'unknown schema id',
        'unknown_schema_id',
        { key: 'entity-x', value: Buffer.concat([header(987_654_321), randomBytes(16)]) },
      ],
      [
        'schema-invalid body',
        'schema_invalid',
        { key: 'entity-x', value: Buffer.concat([header(schemaId), Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])]) },
      ],
      [
        'another schema (a heartbeat)',
        'schema_mismatch',
        { key: 'entity-x', value: await codec.encode(heartbeatTopic, sampleHeartbeat()) },
      ],
      ['missing key', 'missing_key', { key: null, value: await encode(sampleStateChange('entity-x', 1)) }],
      [
        'negative version',
        'invalid_value',
        { key: 'entity-x', value: await encode(sampleStateChange('entity-x', -5)) },
      ],
      [
        'far-future timestamp',
        'invalid_value',
        {
          key: 'entity-x',
          value: await encode(sampleStateChange('entity-x', 1, { timestamp: Date.now() + 48 * HOUR })),
        },
      ],
      [
        'oversized value',
        'oversized',
        {
          key: 'entity-x',
          value: await encode(
            sampleStateChange('entity-x', 1, { payload: JSON.stringify({ blob: 'x'.repeat(4096) }) }),
          ),
        },
      ],
      ['valid v3', 'valid', await valid(3)],
    ];
    for (const [label, outcome, record] of records) {
      sent.push([label, outcome]);
      await producer.sendRaw(topic.name, [record]);
    }

    runner = new ConsumerRunner({
      kafka,
      codec,
      producer,
      groupId,
      logger: quiet,
      maxValueBytes: 2048,
      metrics,
      subscriptions: [
        {
          topic,
          handler: async (records: Array<ConsumedRecord<StateChangeEvent>>) => {
            handled.push(...records);
          },
        },
      ] as never,
    });
    await runner.start();
    await waitUntil(() => handled.length >= 3, 30000, 'the three valid records');
  });

  after(async () => {
    await runner?.stop().catch(() => undefined);
    await producer.disconnect();
  });

  it('hands every valid record to the handler, in order, around the bad ones', () => {
    assert.deepEqual(
      handled.map((r) => r.value.version),
      [1, 2, 3],
    );
  });

  it('writes one dead letter per bad record, with its reason, original bytes and position', async () => {
    const bad = sent.filter(([, outcome]) => outcome !== 'valid');
    const messages = await readRecords(kafka, topic.dlq!.name, bad.length);
    assert.equal(messages.length, bad.length);
    const dlqCodec = new SchemaCodec({ registryUrl: env.registryUrl });
    const letters: DeadLetter[] = [];
    for (const m of messages) {
      const decoded = await dlqCodec.decode(topic.dlq!, m.value);
      assert.ok(decoded.ok, 'dead letters are registry-encoded themselves');
      letters.push(decoded.value);
    }
    letters.sort((a, b) => a.offset - b.offset);
    assert.deepEqual(
      letters.map((l) => l.reason),
      bad.map(([, reason]) => reason),
    );
    const offsetsOfBad = sent.flatMap(([, outcome], i) => (outcome === 'valid' ? [] : [i]));
    assert.deepEqual(
      letters.map((l) => l.offset),
      offsetsOfBad,
    );
    for (const l of letters) {
      assert.equal(l.topic, topic.name);
      assert.equal(l.consumerGroup, groupId);
      assert.ok(l.error.length > 0, `reason ${l.reason} comes with an error text`);
    }
    const missingKey = letters.find((l) => l.reason === 'missing_key')!;
    assert.equal(missingKey.key, null);
    assert.ok(missingKey.value && missingKey.value.length > 5, 'the original bytes are kept');
    assert.match(letters.find((l) => l.reason === 'invalid_value')!.error, /version -5/);
  });

  it('commits past the bad records, so a restart does not see them again', async () => {
    await waitUntil(
      async () => (await committedOffsets(kafka, groupId, topic.name)).get(0) === BigInt(sent.length),
      15000,
      'commit to the end',
    );
  });

  it('counts dead letters by reason', async () => {
    assert.equal(metrics.count('deadLetters', { topic: topic.name, reason: 'undecodable' }), 1);
    assert.equal(metrics.count('deadLetters', { topic: topic.name, reason: 'invalid_value' }), 2);
  });
});

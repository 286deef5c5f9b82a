import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
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
  let atBrokerLimit = Buffer.alloc(0);

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
    atBrokerLimit = Buffer.concat([header(schemaId), randomBytes(1_048_400 - 5)]);

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
      // A value as big as the broker takes: its letter must still fit the DLQ, or the partition stalls.
      ['value at the broker limit', 'oversized', { key: 'entity-x', value: atBrokerLimit }],
      ['100 KB key', 'oversized', { key: 'k'.repeat(100_000), value: await encode(sampleStateChange('entity-x', 1)) }],
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
    const small = letters.find((l) => l.reason === 'undecodable')!;
    assert.equal(small.truncated, false, 'a letter that fits keeps everything');
    assert.equal(small.valueBytes, small.value!.length);
  });

  it('cuts the letter of a record as big as the broker takes to fit the DLQ, keeping the size and hash of its value', async () => {
    const messages = await readRecords(kafka, topic.dlq!.name, sent.length - 3);
    const letters: DeadLetter[] = [];
    for (const m of messages) {
      const decoded = await codec.decode(topic.dlq!, m.value);
      assert.ok(decoded.ok);
      letters.push(decoded.value);
    }
    const big = letters.find((l) => l.valueBytes === atBrokerLimit.length)!;
    assert.ok(big, 'the huge value has its dead letter');
    assert.equal(big.truncated, true);
    assert.equal(big.valueSha256, createHash('sha256').update(atBrokerLimit).digest('hex'));
    assert.ok(big.value!.length > 0 && big.value!.length < atBrokerLimit.length, 'the value keeps its start only');
    assert.deepEqual(big.value, atBrokerLimit.subarray(0, big.value!.length));
    const longKey = letters.find((l) => l.error.startsWith('key is 100000 bytes'))!;
    assert.ok(longKey, 'the 100 KB key is refused as oversized');
    assert.equal(longKey.truncated, false, 'a 100 KB key still fits a letter whole');
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

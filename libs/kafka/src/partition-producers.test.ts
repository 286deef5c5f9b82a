import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { SchemaCodec, sampleStateChange, Topics, type TopicDef } from '@vigil/events';
import { ensureTopics } from './ensure-topics';
import { createKafkaClient } from './kafka-client';
import { silentLogger } from './logger';
import { PartitionProducers } from './partition-producers';
import { highWatermarks, readPartitionRanges } from './read-partition';
import { infraEnv, isolatedTopic, waitUntil } from './testing';

describe('PartitionProducers: one owner of a partition at a time', () => {
  const env = infraEnv();
  const kafka = createKafkaClient({ brokers: env.brokers, clientId: 'partition-producers-test', logger: silentLogger });
  const codec = new SchemaCodec({ registryUrl: env.registryUrl });
  const instances: PartitionProducers[] = [];
  after(() => Promise.all(instances.map((i) => i.disconnect())));

  const instance = (prefix: string) => {
    const i = new PartitionProducers(kafka, codec, prefix);
    instances.push(i);
    return i;
  };

  /** Every committed record's entity, in order: what a read_committed reader (a restore) sees. */
  const committed = async (topic: string) => {
    const ids: string[] = [];
    const end = (await highWatermarks(kafka, topic)).get(0) ?? 0n;
    await readPartitionRanges(kafka, topic, [{ partition: 0, from: 0n, to: end }], async (_, m) => {
      const d = await codec.decode(Topics.stateChangelog, m.value!);
      if (d.ok) ids.push(d.value.entityId);
    });
    return ids;
  };

  it('a partition released while its fence is under way has no producer afterwards, and fences queue', async () => {
    const topic = isolatedTopic(Topics.stateChangelog, { partitions: 1 });
    await ensureTopics(kafka, [topic as TopicDef<unknown>], silentLogger);
    const owner = instance(`pp-${randomUUID().slice(0, 8)}`);
    // A rebalance that gives the partition and takes it back before the fence answered.
    const fencing = owner.fence(0);
    const released = owner.release(0);
    await Promise.all([fencing, released]);
    await assert.rejects(owner.forPartition(0), /no fenced producer/, 'released last: nothing to send with');

    // Two takeovers in a row: the second fence's producer is the one that sends.
    await Promise.all([owner.fence(0), owner.fence(0)]);
    const producer = await owner.forPartition(0);
    await producer.send(topic, [{ value: sampleStateChange('after-two-fences', 1), partition: 0 }]);
    // EndTxn answers before the coordinator writes the commit marker: the record is readable shortly after.
    let ids: string[] = [];
    await waitUntil(async () => (ids = await committed(topic.name)).length > 0, 30_000, 'the commit marker');
    assert.deepEqual(ids, ['after-two-fences']);
  });

  it('a previous owner fenced by the next can no longer commit; readers see only what owners committed', async () => {
    const topic = isolatedTopic(Topics.stateChangelog, { partitions: 1 });
    await ensureTopics(kafka, [topic as TopicDef<unknown>], silentLogger);
    const prefix = `pp-${randomUUID().slice(0, 8)}`;
    const send = async (owner: PartitionProducers, id: string) =>
      (await owner.forPartition(0)).send(topic, [{ value: sampleStateChange(id, 1), partition: 0 }]);

    const first = instance(prefix);
    await assert.rejects(first.forPartition(0), /no fenced producer/, 'no send before a fence');
    await first.fence(0);
    await send(first, 'from-first');

    const next = instance(prefix);
    await next.fence(0);
    await assert.rejects(send(first, 'late-from-first'), 'the fenced owner cannot commit');
    await send(next, 'from-next');

    // The range ends in a transaction's commit marker, which readers must pass over, not wait for.
    assert.deepEqual(await committed(topic.name), ['from-first', 'from-next']);
  });
});

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { SchemaCodec } from '@vigil/events';
import { ConsumerRunner, PartitionNotReady, type ConsumedRecord, type Subscription } from './consumer-runner';
import { ensureTopics } from './ensure-topics';
import { highWatermarks } from './read-partition';
import { createKafkaClient } from './kafka-client';
import { EventProducer } from './producer';
import { sampleStateChange } from '@vigil/events';
import { committedOffsets, infraEnv, isolatedTopic, readRecords, waitUntil, recordingMetrics } from './testing';
import type { EventsMetrics } from './metrics';
import { Topics, type TopicDef } from '@vigil/events';
import type { StateChangeEvent } from '@vigil/events';

import { silentLogger as quiet } from './logger';

describe('consumer runner: offsets follow success', () => {
  const env = infraEnv();
  const kafka = createKafkaClient({ brokers: env.brokers, clientId: 'runner-test', logger: quiet });
  const codec = new SchemaCodec({ registryUrl: env.registryUrl });
  const producer = new EventProducer(kafka, codec);
  const runners: ConsumerRunner[] = [];

  const start = async (
    topic: TopicDef<StateChangeEvent>,
    groupId: string,
    handler: Subscription<StateChangeEvent>['handler'],
    metrics?: EventsMetrics,
  ) => {
    const runner = new ConsumerRunner({
      kafka,
      codec,
      producer,
      groupId,
      logger: quiet,
      attemptsBeforePause: 2,
      maxPauseMs: 1000,
      metrics,
      subscriptions: [{ topic, handler }] as never,
    });
    runners.push(runner);
    await runner.start();
    return runner;
  };

  after(async () => {
    for (const r of runners) await r.stop().catch(() => undefined);
    await producer.disconnect();
  });

  it('with a commit interval, commits off the batch path: every partition on the timer, the rest at stop', async () => {
    const topic = isolatedTopic(Topics.stateChanges, { partitions: 3 });
    await ensureTopics(kafka, [topic, topic.dlq!] as TopicDef<unknown>[], quiet);
    await producer.send(
      topic,
      [0, 1, 2].flatMap((partition) =>
        [1, 2].map((v) => ({ value: sampleStateChange(`e${partition}`, v), partition })),
      ),
    );
    const run = async (commitIntervalMs: number) => {
      const groupId = `runner-${randomUUID()}`;
      let handled = 0;
      const runner = new ConsumerRunner({
        kafka,
        codec,
        producer,
        groupId,
        logger: quiet,
        commitIntervalMs,
        subscriptions: [{ topic, handler: async (records: unknown[]) => void (handled += records.length) }] as never,
      });
      runners.push(runner);
      await runner.start();
      await waitUntil(() => handled === 6, 30000, 'every record handled');
      return { runner, committed: () => committedOffsets(kafka, groupId, topic.name) };
    };

    const slow = await run(600_000);
    await new Promise((r) => setTimeout(r, 1000));
    assert.deepEqual([...(await slow.committed()).values()], [-1n, -1n, -1n], 'no batch waited for a commit');
    await slow.runner.stop();
    assert.deepEqual([...(await slow.committed()).values()], [2n, 2n, 2n], 'stop() committed what was handled');

    const fast = await run(200);
    await waitUntil(
      async () => [...(await fast.committed()).values()].every((o) => o === 2n),
      10000,
      'the timer to commit every partition',
    );
  });

  it('stop() called while a handler runs lets that batch finish and commit: the next member does not run it again', async () => {
    const topic = isolatedTopic(Topics.stateChanges, { partitions: 1 });
    await ensureTopics(kafka, [topic, topic.dlq!] as TopicDef<unknown>[], quiet);
    const groupId = `runner-${randomUUID()}`;
    let entered!: () => void;
    const inHandler = new Promise<void>((r) => (entered = r));
    const first = await start(topic, groupId, async () => {
      entered();
      await new Promise((r) => setTimeout(r, 1500)); // a heal that takes a while
    });
    await producer.send(topic, [{ value: sampleStateChange('slow', 1) }]);
    await inHandler;
    await first.stop();
    assert.deepEqual([...(await committedOffsets(kafka, groupId, topic.name)).values()], [1n]);

    await producer.send(topic, [{ value: sampleStateChange('after', 1) }]);
    const seen: string[] = [];
    await start(topic, groupId, async (records) => void seen.push(...records.map((r) => r.value.entityId)));
    await waitUntil(() => seen.length > 0, 30000, 'the record sent after the stop');
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(seen, ['after'], 'the batch handled before the stop is not handed over again');
  });

  it('a new group reading from the end keeps where it started: records published while no member runs are handed over, not passed over', async () => {
    const topic = isolatedTopic(Topics.stateChanges, { partitions: 3 });
    await ensureTopics(kafka, [topic, topic.dlq!] as TopicDef<unknown>[], quiet);
    await producer.send(topic, [{ value: sampleStateChange('before', 1), partition: 0 }]);
    const groupId = `runner-${randomUUID()}`;
    const seen: string[] = [];
    const member = () =>
      new ConsumerRunner({
        kafka,
        codec,
        producer,
        groupId,
        logger: quiet,
        subscriptions: [
          {
            topic,
            fromBeginning: false,
            handler: async (records: Array<ConsumedRecord<StateChangeEvent>>) =>
              void seen.push(...records.map((r) => r.value.entityId)),
          },
        ] as never,
      });
    const first = member();
    runners.push(first);
    await first.start();
    // No batch ever reached it, yet the group holds a position on every partition: the log end.
    await waitUntil(
      async () => [...(await committedOffsets(kafka, groupId, topic.name)).values()].every((o) => o >= 0n),
      30000,
      'start positions committed',
    );
    const pinned = await committedOffsets(kafka, groupId, topic.name);
    assert.deepEqual(
      [...pinned].sort(([a], [b]) => a - b),
      [
        [0, 1n],
        [1, 0n],
        [2, 0n],
      ],
    );
    await first.stop();

    await producer.send(
      topic,
      [0, 1, 2].map((partition) => ({ value: sampleStateChange(`while-down-${partition}`, 1), partition })),
    );
    const second = member();
    runners.push(second);
    await second.start();
    await waitUntil(() => seen.length === 3, 30000, 'the records published while no member ran');
    assert.deepEqual(seen.sort(), ['while-down-0', 'while-down-1', 'while-down-2'], 'none from before the group began');
  });

  it('redelivers a batch whose handler failed and commits only once it succeeds', async () => {
    const topic = isolatedTopic(Topics.stateChanges, { partitions: 1 });
    await ensureTopics(kafka, [topic, topic.dlq!] as TopicDef<unknown>[], quiet);
    await producer.send(
      topic,
      [1, 2, 3].map((v) => ({ value: sampleStateChange('e', v) })),
    );
    const groupId = `runner-${randomUUID()}`;
    const seen: number[][] = [];
    let failuresLeft = 3;
    let committedWhileFailing: bigint | undefined;
    await start(topic, groupId, async (records: Array<ConsumedRecord<StateChangeEvent>>) => {
      seen.push(records.map((r) => r.value.version));
      if (failuresLeft-- > 0) {
        committedWhileFailing = (await committedOffsets(kafka, groupId, topic.name)).get(0);
        throw new Error('downstream unavailable');
      }
    });
    await waitUntil(
      async () => (await committedOffsets(kafka, groupId, topic.name)).get(0) === 3n,
      30000,
      'the commit',
    );
    assert.equal(committedWhileFailing, -1n, 'nothing was committed while the handler failed');
    assert.ok(seen.length >= 4, `the batch was retried (${seen.length} deliveries)`);
    for (const delivery of seen)
      assert.deepEqual(delivery, [1, 2, 3], 'each retry sees the whole batch from the uncommitted offset');
  });

  it('hands a tombstone over as a null value where the subscription takes tombstones, and dead-letters it where not', async () => {
    const topic = isolatedTopic(Topics.stateChangelog, { partitions: 1 });
    await ensureTopics(kafka, [topic, topic.dlq!] as TopicDef<unknown>[], quiet);
    await producer.send(topic, [
      { value: sampleStateChange('t-1', 1) },
      { value: sampleStateChange('t-1', 2), tombstone: true },
    ]);
    const run = async (tombstones: boolean) => {
      const seen: Array<StateChangeEvent | null> = [];
      const metrics = recordingMetrics();
      const runner = new ConsumerRunner({
        kafka,
        codec,
        producer,
        groupId: `runner-${randomUUID()}`,
        logger: quiet,
        metrics,
        subscriptions: [
          {
            topic,
            tombstones,
            handler: async (records: Array<ConsumedRecord<StateChangeEvent | null>>) => {
              seen.push(...records.map((r) => r.value));
            },
          },
        ] as never,
      });
      runners.push(runner);
      await runner.start();
      await waitUntil(() => seen.length + metrics.count('deadLetters') >= 2, 30000, 'both records');
      return { seen, deadLetters: metrics.count('deadLetters') };
    };
    const taking = await run(true);
    assert.equal(taking.seen.length, 2);
    assert.equal(taking.seen[0]!.version, 1);
    assert.equal(taking.seen[1], null, 'the tombstone, as null');
    assert.equal(taking.deadLetters, 0);
    const refusing = await run(false);
    assert.equal(refusing.seen.length, 1);
    assert.equal(refusing.deadLetters, 1);
  });

  it('pauses a partition whose dead letters cannot be written, and resumes without skipping once they can', async () => {
    // The DLQ topic does not exist yet (auto-creation is off), so writing a dead letter fails.
    const topic = isolatedTopic(Topics.stateChanges, { partitions: 1 });
    await ensureTopics(kafka, [topic] as TopicDef<unknown>[], quiet);
    await producer.sendRaw(topic.name, [{ key: 'e', value: Buffer.from('not avro at all') }]);
    await producer.send(topic, [{ value: sampleStateChange('e', 1) }]);
    const groupId = `runner-${randomUUID()}`;
    const metrics = recordingMetrics();
    const handled: number[] = [];
    await start(topic, groupId, async (records) => void handled.push(...records.map((r) => r.value.version)), metrics);

    await waitUntil(() => metrics.count('partitionPauses') > 0, 90000, 'a pause');
    assert.equal((await committedOffsets(kafka, groupId, topic.name)).get(0), -1n, 'the poison record was not skipped');

    await ensureTopics(kafka, [topic.dlq!] as TopicDef<unknown>[], quiet);
    await waitUntil(
      async () => (await committedOffsets(kafka, groupId, topic.name)).get(0) === 2n,
      90000,
      'the commit after the DLQ exists',
    );
    const [letter] = await readRecords(kafka, topic.dlq!.name, 1);
    const decoded = await codec.decode(topic.dlq!, letter!.value);
    assert.ok(decoded.ok && decoded.value.reason === 'undecodable' && decoded.value.offset === 0);
    assert.ok(handled.includes(1), 'the valid record behind it was handled');
  });

  it('holds a partition that is not ready past the session timeout without losing membership, then hands the same records over once', async () => {
    const topic = isolatedTopic(Topics.stateChanges, { partitions: 1 });
    await ensureTopics(kafka, [topic, topic.dlq!] as TopicDef<unknown>[], quiet);
    await producer.sendRaw(topic.name, [{ key: 'e', value: Buffer.from('not avro at all') }]);
    await producer.send(
      topic,
      [1, 2].map((v) => ({ value: sampleStateChange('e', v) })),
    );
    const groupId = `runner-${randomUUID()}`;
    const metrics = recordingMetrics();
    const joins: number[] = [];
    const delivered: number[][] = [];
    let preparedAt = 0;
    // Longer than the session: a handler that blocked this long would be evicted from the group.
    const preparation = new Promise<void>((resolve) => setTimeout(resolve, 9000)).then(() => {
      preparedAt = Date.now();
    });
    const runner = new ConsumerRunner({
      kafka,
      codec,
      producer,
      groupId,
      logger: quiet,
      metrics,
      sessionTimeoutMs: 6000,
      group: { joined: (_, generation) => joins.push(generation) },
      subscriptions: [
        {
          topic,
          handler: async (records: Array<ConsumedRecord<StateChangeEvent>>) => {
            delivered.push(records.map((r) => r.value.version));
            if (!preparedAt) throw new PartitionNotReady(preparation, 'rebuilding');
          },
        },
      ] as never,
    });
    runners.push(runner);
    await runner.start();
    await waitUntil(
      async () => (await committedOffsets(kafka, groupId, topic.name)).get(0) === 3n,
      60000,
      'the commit after the partition is ready',
    );
    assert.deepEqual(
      delivered,
      [
        [1, 2],
        [1, 2],
      ],
      'handed over once while not ready, once after: the same records',
    );
    assert.deepEqual(joins, [1], 'the member never lost its place in the group');
    assert.equal(metrics.count('batchFailures'), 0, 'waiting is not a failure');
    assert.equal(metrics.count('partitionPauses'), 0, 'nor a failure pause');
    // Dead letters are written before the commit, so the DLQ's end is final here.
    const dlqEnd = (await highWatermarks(kafka, topic.dlq!.name)).get(0);
    assert.equal(dlqEnd, 1n, 'the bad record is dead-lettered once, after the wait');
  });
});

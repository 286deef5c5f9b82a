// On the cluster infra (VIGIL_INFRA=cluster bash infra/up.sh): state-sync keeps every change
// exactly once when a Redis master dies right after a batch (its replica takes over; replication is
// asynchronous, which is why the markers wait for a replica before offsets are committed) and when
// a broker dies mid-stream (replication factor 3, min.insync.replicas 2). On a single Redis and
// broker there is nothing to fail over, and these tests say so and skip.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { StateChangeEvent } from '@vigil/events';
import { parseRedisTarget } from '@vigil/platform';
import { stateSyncKeys } from '@vigil/redis-keys';
import { partitionOfKey } from '@vigil/kafka';
import { Topics } from '@vigil/events';
import { runScript, stopProcess, waitUntil } from '@vigil/test-kit';
import {
  changelogOf,
  connect,
  entityStateKey,
  event,
  expectedAccepted,
  publish,
  startStateSync,
  waitCaughtUp,
  type RunningStateSync,
} from './state-sync-harness';

const redisCluster = parseRedisTarget(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379').cluster;
const kafkaCluster = (process.env.KAFKA_BROKERS ?? '').split(',').length >= 3;
const skip = redisCluster && kafkaCluster ? false : 'needs the cluster infra: VIGIL_INFRA=cluster bash infra/up.sh';

describe('state-sync on the cluster infra: failovers lose nothing and apply nothing twice', { skip }, () => {
  const { kafka, producer, redis, close } = skip ? ({} as ReturnType<typeof connect>) : connect();
  let service: RunningStateSync | undefined;
  const sent: StateChangeEvent[] = [];

  before(async () => {
    await producer.connect();
    service = await startStateSync();
  });
  after(async () => {
    if (service) await stopProcess(service.child);
    await close();
    redis.disconnect();
  });

  /** Versions from..to of each entity, every third event sent twice, as a flaky agent would. */
  function wave(entities: string[], from: number, to: number): StateChangeEvent[] {
    const out: StateChangeEvent[] = [];
    for (let v = from; v <= to; v++)
      for (const [i, id] of entities.entries()) {
        const e = event(id, v);
        out.push(e);
        if (i % 3 === 0) out.push(e);
      }
    sent.push(...out);
    return out;
  }

  async function assertExactlyOnce() {
    const expected = expectedAccepted(sent);
    const log = await changelogOf(kafka, new Set(expected.keys()));
    for (const [entityId, versions] of expected) {
      assert.equal(
        Number(await redis.hget(entityStateKey(entityId), 'version')),
        versions.at(-1),
        `Redis holds the newest version of ${entityId}`,
      );
      assert.deepEqual(
        (log.get(entityId) ?? []).map((r) => r.version),
        versions,
        `the changelog carries each accepted version of ${entityId} once, in order`,
      );
    }
  }

  /** The port of the master that serves the hash slot of `key` now. */
  async function masterOf(key: string): Promise<number> {
    const slot = Number(await redis.call('CLUSTER', 'KEYSLOT', key));
    const ranges = (await redis.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>;
    const range = ranges.find(([from, to]) => slot >= from && slot <= to);
    assert.ok(range, `a master serves slot ${slot}`);
    return Number(range[2][1]);
  }

  it('a Redis master SIGKILLed right after a batch: its replica takes over with everything committed', async () => {
    const run = randomUUID().slice(0, 8);
    const entities = Array.from({ length: 120 }, (_, i) => `cf-${run}-e${i}`);
    await publish(producer, wave(entities, 1, 3));
    await waitCaughtUp(kafka, 120_000, service);

    // The master of the first entity's partition, killed the moment the batch is committed.
    const partition = partitionOfKey(entities[0]!, Topics.stateChanges.partitions);
    const port = await masterOf(stateSyncKeys(partition).checkpoint);
    const killed = runScript('infra/redis-cluster.sh', ['kill', String(port)], process.env);
    assert.equal(killed.code, 0, killed.stderr);
    try {
      await publish(producer, wave(entities, 4, 6));
      // A replica is promoted after the node timeout; until then that slot's batches fail and retry.
      await waitUntil(
        async () => (await masterOf(stateSyncKeys(partition).checkpoint)) !== port,
        60_000,
        'a replica promoted',
      );
    } finally {
      // Back as a replica of the promoted one: the new master has a replica to WAIT for again.
      const started = runScript('infra/redis-cluster.sh', ['start', String(port)], process.env);
      assert.equal(started.code, 0, started.stderr);
    }
    await waitCaughtUp(kafka, 180_000, service);
    await assertExactlyOnce();
    assert.equal(service!.child.exitCode, null, 'state-sync kept running');
  });

  it('a broker SIGKILLed mid-stream and restarted: acks=all on three replicas loses nothing', async () => {
    const run = randomUUID().slice(0, 8);
    const entities = Array.from({ length: 120 }, (_, i) => `cf-${run}-e${i}`);
    await publish(producer, wave(entities, 1, 2));
    const killed = runScript('infra/kafka-cluster.sh', ['kill', '2'], process.env);
    assert.equal(killed.code, 0, killed.stderr);
    try {
      await publish(producer, wave(entities, 3, 5));
    } finally {
      const started = runScript('infra/kafka-cluster.sh', ['start', '2'], process.env);
      assert.equal(started.code, 0, started.stderr);
    }
    await publish(producer, wave(entities, 6, 7));
    await waitCaughtUp(kafka, 180_000, service);
    await assertExactlyOnce();
    assert.equal(service!.child.exitCode, null, 'state-sync kept running');
  });
});

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { sampleLiveness } from '@vigil/events';
import { createRedisClient } from '@vigil/platform';
import { leaseKeys } from '@vigil/redis-keys';
import type { Lease } from './detection/lease-table';
import { LeaseStore, PartitionFenced } from './lease-store';

// Against the real Redis the service runs on (a Redis Cluster too): the scripts are the behaviour under test.
const redis = createRedisClient(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true });
const group = `lease-store-test-${randomUUID().slice(0, 8)}`;
const store = new LeaseStore(redis, group);

const lease = (agentId: string, lastBeatAt: number): Lease => ({
  agentId,
  partition: 0,
  state: 'healthy',
  since: 1,
  lastBeatAt,
  registeredAt: 1,
  intervalMs: 1000,
  missThreshold: 3,
  startPeriodMs: 0,
  host: 'h',
  agentVersion: '1',
  bootId: 'b',
  priorityTier: 1,
  dependencies: [],
  labels: {},
  metrics: {},
  failedChecks: [],
});
const upserts = (...leases: Lease[]) => ({ upserts: leases, removed: [], registered: [] });

describe('LeaseStore: an owner that lost its partition unawares cannot write over the new one', () => {
  after(async () => {
    for (const p of [0, 1, 2]) {
      const k = leaseKeys(group, p);
      for (const key of [k.leases, k.meta, k.outbox, k.registryOutbox]) await redis.del(key);
    }
    redis.disconnect();
  });

  it('refuses every write of an older claim, whole: leases, clock and outbox stay the new owner’s', async () => {
    const old = await store.claim(0);
    await store.save(0, old, upserts(lease('a', 100)), 100, []);
    const current = await store.claim(0); // the partition moved while the old owner was paused
    assert.ok(current > old);
    await store.save(0, current, upserts(lease('a', 200)), 200, [sampleLiveness()]);

    // The old owner resumes mid-batch and writes what it had decided before the pause.
    await assert.rejects(
      store.save(0, old, upserts(lease('a', 150), lease('b', 150)), 150, [sampleLiveness()]),
      (e: unknown) => e instanceof PartitionFenced && e.storedEpoch === current && e.epoch === old,
    );
    await assert.rejects(store.published(0, old, 1), PartitionFenced);
    await assert.rejects(store.registryPublished(0, old, 1), PartitionFenced);

    const snapshot = await store.load(0);
    assert.deepEqual(
      snapshot.leases.map((l) => [l.agentId, l.lastBeatAt]),
      [['a', 200]],
    );
    assert.equal(snapshot.clockMs, 200);
    assert.equal(snapshot.outbox.length, 1, "the new owner's unpublished transition is still there");

    await store.published(0, current, 1);
    assert.equal((await store.load(0)).outbox.length, 0, 'the owner itself trims it');
  });

  it('says when the clock had to be created, so a lost partition is rewritten in full', async () => {
    const epoch = await store.claim(1);
    assert.deepEqual(await store.save(1, epoch, upserts(lease('a', 100)), 100, []), {
      clockWritten: true,
      clockWasMissing: true,
    });
    assert.deepEqual(await store.save(1, epoch, upserts(lease('a', 200)), 200, []), {
      clockWritten: true,
      clockWasMissing: false,
    });
    assert.deepEqual(await store.save(1, epoch, upserts(), 0, []), { clockWritten: false, clockWasMissing: false });
  });

  it('takes a claim newer than the stored one as the owner (Redis lost the claim in a failover) and fences from it', async () => {
    const epoch = await store.claim(2);
    await redis.del(leaseKeys(group, 2).meta); // what a promoted replica that missed the claim holds
    await store.save(2, epoch, upserts(lease('a', 100)), 100, []);
    await assert.rejects(store.save(2, epoch - 1, upserts(lease('a', 50)), 50, []), PartitionFenced);
    assert.equal((await store.load(2)).clockMs, 100);
  });

  it('writes a partition of thousands of leases and transitions in one call (arguments go to Redis in slices)', async () => {
    const epoch = await store.claim(2);
    const many = Array.from({ length: 6000 }, (_, i) => lease(`agent-${i}`, 300));
    const transitions = Array.from({ length: 5000 }, () => sampleLiveness());
    await store.save(2, epoch, { upserts: many, removed: ['a'], registered: [] }, 300, transitions);
    const snapshot = await store.load(2);
    assert.equal(snapshot.leases.length, 6000);
    assert.ok(!snapshot.leases.some((l) => l.agentId === 'a'), 'the removed lease is gone');
    assert.equal(snapshot.outbox.length, 5000);
  });
});

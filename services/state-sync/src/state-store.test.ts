import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import type { StateChangeEvent } from '@vigil/events';
import { checkpointKey, stateKey, unpublishedKey } from '@vigil/redis-keys';
import Redis from 'ioredis';
import { StateStore } from './state-store';

// Against the real Redis the service runs on: the scripts are the behaviour under test.
const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { lazyConnect: true });
const store = new StateStore(redis, { windowMs: 3_600_000 });
const PARTITION = 10_000 + Math.floor(Math.random() * 10_000); // a checkpoint no service writes

function event(entityId: string, version: number): StateChangeEvent {
  return {
    eventId: randomUUID(),
    entityId,
    entityType: 'test',
    agentId: `agent-${entityId}`,
    eventType: 'updated',
    version,
    timestamp: Date.now(),
    payload: `{"v":${version}}`,
    checksum: null,
  };
}

async function apply(e: StateChangeEvent) {
  const { results } = await store.apply(PARTITION, [e]);
  return results[0]!;
}

describe('StateStore: dedupe and version gate without a window of ids', () => {
  after(async () => {
    await redis.del(checkpointKey(PARTITION));
    redis.disconnect();
  });

  it('calls a redelivery of an applied, unpublished event a duplicate: the one that must still be published', async () => {
    const entity = `store-${randomUUID()}`;
    const v1 = event(entity, 1);
    assert.equal((await apply(v1)).outcome, 'applied');
    const again = await apply(v1);
    assert.equal(again.outcome, 'duplicate');
    assert.ok(again.publishedVersion < v1.version, 'the caller sees the changelog does not hold it yet');
  });

  it('forgets ids once the changelog holds their version: nothing but the hash stays at rest', async () => {
    const entity = `store-${randomUUID()}`;
    const v1 = event(entity, 1);
    const v2 = event(entity, 2);
    await store.apply(PARTITION, [v1, v2]);
    assert.equal(await redis.zcard(unpublishedKey(entity)), 2);
    await store.recordPublished([v1, v2]);
    assert.equal(await redis.exists(unpublishedKey(entity)), 0);
    assert.equal(await redis.hget(stateKey(entity), 'published'), '2');
  });

  it('refuses an older event redelivered after publishing as stale, and the current one as a duplicate', async () => {
    const entity = `store-${randomUUID()}`;
    const v1 = event(entity, 1);
    const v2 = event(entity, 2);
    await store.apply(PARTITION, [v1, v2]);
    await store.recordPublished([v1, v2]);
    assert.equal((await apply(v1)).outcome, 'stale');
    const current = await apply(v2);
    assert.equal(current.outcome, 'duplicate');
    assert.equal(current.publishedVersion, 2, 'published already: nothing to send again');
    assert.equal((await store.entity(entity))?.version, 2);
  });

  it('keeps an unpublished newer id through a restore that marks only older versions published', async () => {
    const entity = `store-${randomUUID()}`;
    const v1 = event(entity, 1);
    const v2 = event(entity, 2);
    await store.apply(PARTITION, [v1, v2]);
    await store.restoreFromChangelog([
      { entityId: entity, version: 1, eventId: v1.eventId, agentId: v1.agentId, event: v1 },
    ]);
    assert.deepEqual(await redis.zrange(unpublishedKey(entity), 0, -1), [v2.eventId]);
    const again = await apply(v2);
    assert.equal(again.outcome, 'duplicate');
    assert.equal(again.publishedVersion, 1, 'the retry publishes version 2');
  });

  it("reports a partition whose checkpoint is gone (Redis lost data) with the batch's results", async () => {
    const e = event(`store-${randomUUID()}`, 1);
    await redis.del(checkpointKey(PARTITION));
    assert.equal((await store.apply(PARTITION, [e])).checkpoint, false);
    await store.setCheckpoint(PARTITION, 5n, 'cluster');
    assert.equal((await store.apply(PARTITION, [event(`store-${randomUUID()}`, 1)])).checkpoint, true);
  });
});

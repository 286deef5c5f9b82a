import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import type { StateChangeEvent } from '@vigil/events';
import { createRedisClient, parseRedisTarget } from '@vigil/platform';
import { stateSyncKeys } from '@vigil/redis-keys';
import { EVENTS_PER_SCRIPT_CALL, StateStore } from './state-store';

// Against the real Redis the service runs on (a Redis Cluster too): the scripts are the behaviour under test.
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redis = createRedisClient(REDIS_URL, { lazyConnect: true });
const PARTITION = 10_000 + Math.floor(Math.random() * 10_000); // a partition no service writes
const OTHER_PARTITION = PARTITION + 1;
const store = new StateStore(redis, { windowMs: 3_600_000 }, async () => [PARTITION, OTHER_PARTITION]);
const k = stateSyncKeys(PARTITION);
const { state: stateKey, unpublished: unpublishedKey, agentEntities: agentEntitiesKey } = k;

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
    // One key per DEL: the two partitions' keys are in two slots (a Redis Cluster refuses one DEL of both).
    await redis.del(k.checkpoint);
    await redis.del(stateSyncKeys(OTHER_PARTITION).checkpoint);
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
    await store.recordPublished(PARTITION, [v1, v2]);
    assert.equal(await redis.exists(unpublishedKey(entity)), 0);
    assert.equal(await redis.hget(stateKey(entity), 'published'), '2');
  });

  it('refuses an older event redelivered after publishing as stale, and the current one as a duplicate', async () => {
    const entity = `store-${randomUUID()}`;
    const v1 = event(entity, 1);
    const v2 = event(entity, 2);
    await store.apply(PARTITION, [v1, v2]);
    await store.recordPublished(PARTITION, [v1, v2]);
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
      { partition: PARTITION, entityId: entity, version: 1, eventId: v1.eventId, agentId: v1.agentId, event: v1 },
    ]);
    assert.deepEqual(await redis.zrange(unpublishedKey(entity), 0, -1), [v2.eventId]);
    const again = await apply(v2);
    assert.equal(again.outcome, 'duplicate');
    assert.equal(again.publishedVersion, 1, 'the retry publishes version 2');
  });

  it("reports a partition whose checkpoint is gone (Redis lost data) with the batch's results", async () => {
    const e = event(`store-${randomUUID()}`, 1);
    await redis.del(k.checkpoint);
    assert.equal((await store.apply(PARTITION, [e])).checkpoint, false);
    await store.setCheckpoint(PARTITION, 5n, 'cluster');
    assert.equal((await store.apply(PARTITION, [event(`store-${randomUUID()}`, 1)])).checkpoint, true);
  });

  it('answers an empty batch with whether the checkpoint is there, not with "lost"', async () => {
    await store.setCheckpoint(PARTITION, 5n, 'cluster');
    assert.deepEqual(await store.apply(PARTITION, []), { checkpoint: true, results: [] });
    await redis.del(k.checkpoint);
    assert.deepEqual(await store.apply(PARTITION, []), { checkpoint: false, results: [] });
    await store.setCheckpoint(PARTITION, 5n, 'cluster');
  });

  it('applies a batch longer than one script call in order, each event as if alone', async () => {
    const run = randomUUID().slice(0, 8);
    const entities = Array.from({ length: EVENTS_PER_SCRIPT_CALL }, (_, i) => `store-${run}-${i}`);
    // Three versions of every entity: the batch spans three script calls, and each entity's versions
    // sit in different calls.
    const batch = [1, 2, 3].flatMap((v) => entities.map((id) => event(id, v)));
    const redelivered = batch[0]!;
    const reordered = event(entities[1]!, 2);
    await redis.set(k.checkpoint, 'cluster@0');
    const { checkpoint, results } = await store.apply(PARTITION, [...batch, redelivered, reordered]);
    assert.equal(checkpoint, true);
    assert.equal(results.length, batch.length + 2);
    assert.ok(results.slice(0, batch.length).every((r) => r.outcome === 'applied'));
    assert.deepEqual(results.at(-2), { outcome: 'duplicate', storedVersion: 3, publishedVersion: -1 });
    assert.deepEqual(results.at(-1), { outcome: 'stale', storedVersion: 3, publishedVersion: -1 });
    assert.equal((await store.entity(entities.at(-1)!))?.version, 3);
  });

  it('records a batch of more entities than one script call as published, the checkpoint last', async () => {
    const run = randomUUID().slice(0, 8);
    const entities = Array.from({ length: EVENTS_PER_SCRIPT_CALL + 7 }, (_, i) => `store-${run}-${i}`);
    const created = entities.map((id) => event(id, 1));
    const deleted = { ...event(entities[0]!, 2), eventType: 'deleted' as const };
    await store.apply(PARTITION, created);
    await store.recordPublished(PARTITION, created, { offset: 41n, clusterId: 'cluster' });
    assert.equal(await redis.sismember(agentEntitiesKey(`agent-${entities[0]}`), entities[0]!), 1);
    await store.apply(PARTITION, [deleted]);
    await store.recordPublished(PARTITION, [deleted], { offset: 42n, clusterId: 'cluster' });
    assert.equal(await redis.get(k.checkpoint), 'cluster@42');
    const last = entities.at(-1)!;
    assert.equal((await store.entity(last))?.publishedVersion, 1);
    assert.equal((await store.entity(entities[0]!))?.publishedVersion, 2);
    assert.equal(await redis.exists(unpublishedKey(last), unpublishedKey(entities[0]!)), 0);
    assert.equal(await redis.sismember(agentEntitiesKey(`agent-${last}`), last), 1);
    assert.equal(
      await redis.sismember(agentEntitiesKey(`agent-${entities[0]}`), entities[0]!),
      0,
      'deleted: off the index',
    );
  });

  it('finds an entity on whichever partition holds it, the newest version where two do', async () => {
    const entity = `store-${randomUUID()}`;
    const agent = `agent-${entity}`;
    await store.apply(OTHER_PARTITION, [event(entity, 1)]);
    await store.recordPublished(OTHER_PARTITION, [event(entity, 1)]);
    assert.equal((await store.entity(entity))?.version, 1);
    assert.deepEqual(
      (await store.entitiesOfAgent(agent)).map((s) => [s.entityId, s.version]),
      [[entity, 1]],
    );
    // The topic gained partitions and the entity's events moved: the newer state answers.
    await store.apply(PARTITION, [event(entity, 4)]);
    await store.recordPublished(PARTITION, [event(entity, 4)]);
    assert.equal((await store.entity(entity))?.version, 4);
    assert.deepEqual(
      (await store.entitiesOfAgent(agent)).map((s) => [s.entityId, s.version]),
      [[entity, 4]],
    );
    assert.equal(await store.entity(`store-${randomUUID()}`), null);
  });

  it('refuses to record a batch as done while fewer Redis replicas than asked hold it (WAIT)', async () => {
    const waiting = new StateStore(redis, { windowMs: 3_600_000 }, async () => [PARTITION], {
      replicas: 1,
      timeoutMs: 200,
    });
    const e = event(`store-${randomUUID()}`, 1);
    await waiting.apply(PARTITION, [e]);
    const marking = waiting.recordPublished(PARTITION, [e], { offset: 50n, clusterId: 'cluster' });
    if (parseRedisTarget(REDIS_URL).cluster) {
      await marking; // every master of the cluster has a replica
    } else {
      // A single Redis has no replica to confirm: the batch must fail, to be retried.
      await assert.rejects(marking, /0 of 1 Redis replicas confirmed within 200 ms; not committing/);
    }
    assert.equal(await redis.get(k.checkpoint), 'cluster@50', 'the markers are written either way');
  });
});

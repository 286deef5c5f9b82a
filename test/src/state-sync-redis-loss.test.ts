import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { Topics, type StateChangeEvent } from '@vigil/events';
import { freePort, stopProcess, waitUntil } from '@vigil/test-kit';
import Redis from 'ioredis';
import {
  entityStateKey,
  changelogOf,
  connect,
  event,
  hasRedisServer,
  publish,
  startRedis,
  startStateSync,
  waitCaughtUp,
  type RunningStateSync,
} from './state-sync-harness';

describe('state-sync when Redis restarts empty', { skip: !hasRedisServer && 'needs redis-server' }, () => {
  const { kafka, producer, redis: sharedRedis, close } = connect();
  let redisProcess: ChildProcess | undefined;
  let stateSync: RunningStateSync | undefined;
  /** Closed in after() too: a client left reconnecting to the killed server would keep the file from ending. */
  let privateRedis: Redis | undefined;

  after(async () => {
    if (stateSync) await stopProcess(stateSync.child);
    redisProcess?.kill('SIGKILL');
    privateRedis?.disconnect();
    await close();
    sharedRedis.disconnect();
  });

  it('notices, rebuilds Redis from the changelog, and neither loses nor re-applies a change', async () => {
    const port = await freePort();
    redisProcess = startRedis(port);
    const redis = new Redis(`redis://127.0.0.1:${port}`, { maxRetriesPerRequest: null });
    privateRedis = redis;
    await waitUntil(async () => (await redis.ping().catch(() => '')) === 'PONG', 10000, 'private redis');
    stateSync = await startStateSync({ REDIS_URL: `redis://127.0.0.1:${port}` });

    const run = randomUUID().slice(0, 8);
    const before: StateChangeEvent[] = [];
    for (let v = 1; v <= 5; v++) for (let e = 0; e < 60; e++) before.push(event(`loss-${run}-e${e}`, v));
    await publish(producer, before);
    await waitCaughtUp(kafka);

    redisProcess.kill('SIGKILL'); // everything in Redis is gone
    await new Promise((r) => redisProcess!.once('exit', r));
    redisProcess = startRedis(port);
    await waitUntil(async () => (await redis.ping().catch(() => '')) === 'PONG', 10000, 'redis back, empty');
    assert.equal(await redis.dbsize(), 0);

    // After the loss: old events again (same ids, e.g. a producer retry) and one new version, for
    // the first 40 entities; the last 20 get nothing new.
    const after: StateChangeEvent[] = [];
    for (let e = 0; e < 40; e++) after.push(before[2 * 60 + e]!, event(`loss-${run}-e${e}`, 6));
    await publish(producer, after);
    // state-sync notices the loss on a partition's next batch; one new entity per partition makes
    // sure every partition has one (a partition that gets no traffic is rebuilt when it next does).
    await producer.send(
      Topics.stateChanges,
      Array.from({ length: Topics.stateChanges.partitions }, (_, p) => ({
        value: event(`loss-${run}-probe${p}`, 1),
        partition: p,
      })),
    );
    await waitCaughtUp(kafka);

    const log = await changelogOf(kafka, new Set(before.map((e) => e.entityId)));
    for (let e = 0; e < 60; e++) {
      const id = `loss-${run}-e${e}`;
      const expected = e < 40 ? [1, 2, 3, 4, 5, 6] : [1, 2, 3, 4, 5];
      assert.deepEqual(
        (log.get(id) ?? []).map((r) => r.version),
        expected,
        `${id}: each version once on the changelog`,
      );
      const state = await redis.hgetall(entityStateKey(id));
      assert.equal(Number(state.version), expected.at(-1), `${id}: Redis rebuilt to the newest version`);
      assert.deepEqual(JSON.parse(state.payload!), { version: expected.at(-1) }, `${id}: with that version's payload`);
    }
    assert.ok(
      (await stateSync.metric('vigil_state_changelog_recoveries_total{what="redis_lost"')) >= 1,
      'the loss was noticed',
    );
    assert.ok(
      (await stateSync.metric('vigil_state_changelog_recoveries_total{what="restored"')) >= 60,
      'entities were restored',
    );
    redis.disconnect();
  });
});

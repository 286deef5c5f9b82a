// state-sync on a changelog with a long history (>= 300k records) and a Redis that lost everything:
// the rebuild is a restore phase that never costs the consumer its group membership, reports its
// progress, and survives being killed. Runs last among the state-sync files: it leaves 300k
// records on the changelog, which any later instance on an empty Redis would read too.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { RecordHeaderNames, Topics, allTopics, type StateChangeEvent } from '@vigil/events';
import { ensureTopics, highWatermarks, silentLogger } from '@vigil/kafka';
import { stateSyncKeys } from '@vigil/redis-keys';
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

const ENTITIES = 100_000;
const VERSIONS = 3; // 300k changelog records
const HOSTILE = 200;

interface Readiness {
  status: string;
  restoring?: Array<{ what: string; read: number; toRead: number }>;
}

async function readiness(port: number): Promise<Readiness | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/health/ready`, { signal: AbortSignal.timeout(3000) });
    return (await res.json()) as Readiness;
  } catch {
    return undefined; // not listening yet
  }
}

/** Sum of the changelog checkpoints' offsets in Redis: how far the rebuild has come. */
async function checkpointed(redis: Redis): Promise<number> {
  let sum = 0;
  for (let p = 0; p < Topics.stateChangelog.partitions; p++) {
    const v = await redis.get(stateSyncKeys(p).checkpoint);
    if (v) sum += Number(v.split('@')[1]);
  }
  return sum;
}

describe(
  'state-sync rebuilding Redis from a changelog of 300k records',
  { skip: !hasRedisServer && 'needs redis-server' },
  () => {
    const { kafka, producer, redis: sharedRedis, close } = connect();
    const run = randomUUID().slice(0, 8);
    const id = (e: number) => `hist-${run}-e${e}`;
    let redisPort = 0;
    let redisProcess: ChildProcess | undefined;
    let redis: Redis | undefined;
    const services: RunningStateSync[] = [];

    const freshRedis = async () => {
      if (redisProcess) {
        redisProcess.kill('SIGKILL');
        await new Promise((r) => redisProcess!.once('exit', r));
      }
      redisProcess = startRedis(redisPort);
      await waitUntil(async () => (await redis!.ping().catch(() => '')) === 'PONG', 10000, 'private redis');
      assert.equal(await redis!.dbsize(), 0, 'Redis starts empty');
    };

    before(async () => {
      redisPort = await freePort();
      redis = new Redis(`redis://127.0.0.1:${redisPort}`, { maxRetriesPerRequest: null, lazyConnect: true });
      redis.on('error', () => undefined); // refused while the private Redis restarts: it retries
      await ensureTopics(kafka, allTopics(), silentLogger); // on a new broker, before any service made them
      // The history: every entity at versions 1..3, written to the changelog as state-sync writes it.
      const started = Date.now();
      const chunk: Parameters<typeof producer.send<StateChangeEvent>>[1] = [];
      for (let v = 1; v <= VERSIONS; v++) {
        for (let e = 0; e < ENTITIES; e++) {
          const value = event(id(e), v);
          chunk.push({
            value,
            headers: {
              [RecordHeaderNames.version]: String(v),
              [RecordHeaderNames.eventId]: value.eventId,
              [RecordHeaderNames.agentId]: value.agentId,
            },
          });
          if (chunk.length === 10_000) await producer.send(Topics.stateChangelog, chunk.splice(0));
        }
      }
      await producer.send(Topics.stateChangelog, chunk.splice(0));
      console.log(`# seeded ${ENTITIES * VERSIONS} changelog records in ${Date.now() - started} ms`);
    });

    after(async () => {
      for (const s of services) await stopProcess(s.child, 5000);
      redisProcess?.kill('SIGKILL');
      redis?.disconnect();
      sharedRedis.disconnect(); // left connected, it would keep this file's process alive
      await close();
    });

    it('restores outside the poll loop: readiness says restoring with progress, then ready; no eviction, each dead letter once, events sent meanwhile applied', async () => {
      await freshRedis();
      const dlqBefore = (await highWatermarks(kafka, Topics.stateChanges.dlq!.name)).get(0) ?? 0n;
      const stateSync = await startStateSync({ REDIS_URL: `redis://127.0.0.1:${redisPort}`, LOG_LEVEL: 'info' }, false);
      services.push(stateSync);

      // Sent while the rebuild runs: new versions for some entities, and hostile records among them.
      const fresh = Array.from({ length: 500 }, (_, e) => event(id(e), VERSIONS + 1));
      await publish(producer, fresh);
      await producer.sendRaw(
        Topics.stateChanges.name,
        Array.from({ length: HOSTILE }, (_, i) => ({ key: `hostile-${run}-${i}`, value: Buffer.from(`garbage ${i}`) })),
      );

      const seen: Readiness[] = [];
      await waitUntil(
        async () => {
          const r = await readiness(stateSync.port);
          if (r) seen.push(r);
          return r?.status === 'ok';
        },
        240000,
        'state-sync ready after the rebuild',
      );
      const restoring = seen.filter((r) => r.status === 'restoring');
      assert.ok(restoring.length > 0, 'readiness reported restoring before ready');
      const progress = restoring.flatMap((r) => r.restoring ?? []);
      const toRead = Math.max(...progress.map((p) => p.toRead));
      assert.ok(toRead >= ENTITIES * VERSIONS, `the restore knew it had >= 300k records to read (${toRead})`);
      assert.ok(
        progress.some((p) => p.read > 0 && p.read < p.toRead),
        'progress was visible while it ran (records read / to read)',
      );
      await waitCaughtUp(kafka, 120000);

      const log = stateSync.output();
      assert.doesNotMatch(
        log,
        /not aware of this member|partition paused after repeated failures/,
        'never evicted, never failed',
      );
      assert.equal(await stateSync.metric('vigil_consumer_batch_failures_total'), 0, 'no batch failed');
      const dlqAfter = (await highWatermarks(kafka, Topics.stateChanges.dlq!.name)).get(0) ?? 0n;
      assert.equal(Number(dlqAfter - dlqBefore), HOSTILE, 'each hostile record dead-lettered exactly once');

      // Every entity as the changelog says, and the new versions applied on top.
      const versions = await versionsOf(redis!, ENTITIES);
      for (let e = 0; e < ENTITIES; e++) {
        assert.equal(
          versions[e],
          e < fresh.length ? VERSIONS + 1 : VERSIONS,
          `${id(e)} restored to its newest version`,
        );
      }
      const changelog = await changelogOf(kafka, new Set(fresh.map((f) => f.entityId)));
      for (const f of fresh) {
        const published = (changelog.get(f.entityId) ?? []).filter((r) => r.version === VERSIONS + 1);
        assert.equal(published.length, 1, `${f.entityId} v${VERSIONS + 1} published once`);
      }
      const counted = await stateSync.metric('vigil_state_restore_records_total');
      assert.ok(counted >= ENTITIES * VERSIONS, `the restore metric counted the records read (${counted})`);
      const done = /"records":(\d+),"restored":(\d+),"seconds":([\d.]+),"recordsPerSecond":(\d+)/.exec(log);
      if (done)
        console.log(
          `# restore: ${done[1]} records read, ${done[2]} entities restored, ${done[3]} s, ${done[4]} records/s`,
        );
      await stopProcess(stateSync.child);
    });

    it('SIGKILLed again and again during the rebuild (10 s into their reading, the first three at a quarter of it): each process resumes where the last stopped, it completes, and events sent meanwhile are applied once', async () => {
      await freshRedis();
      const env = { REDIS_URL: `redis://127.0.0.1:${redisPort}`, LOG_LEVEL: 'info' };
      const meanwhile: StateChangeEvent[] = [];
      const progress: number[] = [];
      let kills = 0;
      for (let life = 0; ; life++) {
        assert.ok(life < 30, 'the rebuild completes within 30 lives');
        const stateSync = await startStateSync(env, false);
        services.push(stateSync);
        // Events for entities the restore has not reached yet, each life: they wait, then apply once.
        const batch = Array.from({ length: 100 }, (_, i) => event(id(ENTITIES - 1 - life * 100 - i), VERSIONS + 2));
        meanwhile.push(...batch);
        await publish(producer, batch);
        // Killed 10 s into its reading, the first three lives sooner, once they have read a quarter of
        // what they have to read: on a fast machine the whole rebuild takes less than 10 s, and kills
        // must land mid-rebuild.
        // The 10 s count from when this life's restore starts reading, not from its start: after a
        // SIGKILL the new process first waits for the group to drop the dead member (its session
        // timeout), and a clock started before that left some lives no time to read at all.
        let deadline = Date.now() + 30_000;
        let reading = false;
        let ready = false;
        let quarterRead = false;
        while (Date.now() < deadline && !ready && !quarterRead) {
          const r = await readiness(stateSync.port);
          ready = r?.status === 'ok';
          const restoring = r?.restoring ?? [];
          if (!reading && restoring.some((p) => p.toRead > 0)) {
            reading = true;
            deadline = Date.now() + 10_000;
          }
          quarterRead = kills < 3 && restoring.some((p) => p.toRead > 0 && p.read >= p.toRead / 4);
          if (!ready && !quarterRead) await new Promise((r) => setTimeout(r, 200));
        }
        if (ready) break;
        stateSync.child.kill('SIGKILL');
        await stateSync.exited;
        kills += 1;
        progress.push(await checkpointed(redis!));
        console.log(`# life ${life} killed; checkpoints at ${progress.at(-1)}`);
      }
      console.log(`# rebuild under SIGKILL: ${kills} kills, checkpointed after each: ${progress.join(', ')}`);
      assert.ok(kills >= 1, 'at least one process was killed mid-rebuild (else this proves nothing)');
      assert.ok(progress[0]! > 0, 'the first killed process had saved progress');
      for (let i = 1; i < progress.length; i++)
        assert.ok(progress[i]! >= progress[i - 1]!, 'progress never went backwards across kills');

      await waitCaughtUp(kafka, 120000);
      const versions = await versionsOf(redis!, ENTITIES);
      const bumped = new Set(meanwhile.map((m) => m.entityId));
      for (let e = 0; e < ENTITIES; e++) {
        const expected = bumped.has(id(e)) ? VERSIONS + 2 : e < 500 ? VERSIONS + 1 : VERSIONS;
        assert.equal(versions[e], expected, `${id(e)} at its newest version`);
      }
      const changelog = await changelogOf(kafka, bumped);
      for (const m of meanwhile) {
        const published = (changelog.get(m.entityId) ?? []).filter((r) => r.version === VERSIONS + 2);
        assert.equal(published.length, 1, `${m.entityId} v${VERSIONS + 2} (sent during the rebuild) published once`);
      }
    });

    /** The stored version of entities 0..n-1 (NaN where missing). */
    async function versionsOf(r: Redis, n: number): Promise<number[]> {
      const out: number[] = [];
      for (let from = 0; from < n; from += 10_000) {
        const pipeline = r.pipeline();
        for (let e = from; e < Math.min(n, from + 10_000); e++) pipeline.hget(entityStateKey(id(e)), 'version');
        for (const [err, v] of (await pipeline.exec()) ?? []) {
          if (err) throw err;
          out.push(Number(v));
        }
      }
      return out;
    }
  },
);

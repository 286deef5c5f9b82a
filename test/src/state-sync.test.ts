import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Topics, type StateChangeEvent } from '@vigil/events';
import { highWatermarks, readPartitionRanges } from '@vigil/kafka';
import { stopProcess, waitUntil } from '@vigil/test-kit';
import {
  entityStateKey,
  changelogOf,
  connect,
  event,
  expectedAccepted,
  publish,
  startStateSync,
  waitCaughtUp,
  type RunningStateSync,
} from './state-sync-harness';
import { stateSyncKeys } from '@vigil/redis-keys';

const { kafka, codec, producer, redis, close } = connect();
const running: RunningStateSync[] = [];

async function start(env: Record<string, string> = {}, waitReady = true) {
  const s = await startStateSync(env, waitReady);
  running.push(s);
  return s;
}

async function stopAll() {
  await Promise.all(running.splice(0).map((s) => stopProcess(s.child)));
}

/** Redis holds the newest accepted version of every entity, and the changelog each accepted version once. */
async function assertExactlyOnce(sent: StateChangeEvent[]) {
  const expected = expectedAccepted(sent);
  const log = await changelogOf(kafka, new Set(expected.keys()));
  for (const [entityId, versions] of expected) {
    const stored = await redis.hget(entityStateKey(entityId), 'version');
    assert.equal(Number(stored), versions.at(-1), `Redis holds the newest version of ${entityId}`);
    const inLog = (log.get(entityId) ?? []).map((r) => r.version);
    assert.deepEqual(inLog, versions, `the changelog carries each accepted version of ${entityId} once, in order`);
  }
}

describe('state-sync: each state change applied exactly once', () => {
  before(() => producer.connect());
  after(async () => {
    await stopAll();
    await close();
    redis.disconnect();
  });

  it('keeps version 7 when the same event id arrives twice and version 5 arrives after 7', async () => {
    await start();
    const entity = `ss-${randomUUID().slice(0, 8)}-e1`;
    const v7 = event(entity, 7);
    const sent = [event(entity, 1), v7, v7, event(entity, 5)];
    await publish(producer, sent);
    await waitCaughtUp(kafka);
    const state = await redis.hgetall(entityStateKey(entity));
    assert.equal(state.version, '7');
    assert.equal(state.eventId, v7.eventId);
    const log = await changelogOf(kafka, new Set([entity]));
    assert.deepEqual(
      log.get(entity)!.map((r) => r.version),
      [1, 7],
    );
    const res = await fetch(`http://127.0.0.1:${running[0]!.port}/entities/${entity}`);
    const body = (await res.json()) as { version: number; payload: unknown; ageMs: number };
    assert.equal(body.version, 7);
    assert.deepEqual(body.payload, { version: 7 });
    assert.ok(body.ageMs >= 0);
    assert.ok((await running[0]!.metric('vigil_state_events_total{outcome="duplicate"')) >= 1);
    assert.ok((await running[0]!.metric('vigil_state_events_total{outcome="stale"')) >= 1);
  });

  it('10,000 events with 20% duplicates and 10% reordered: newest version per entity, each accepted version once', async () => {
    const run = randomUUID().slice(0, 8);
    const unique: StateChangeEvent[] = [];
    for (let v = 1; v <= 40; v++) for (let e = 0; e < 200; e++) unique.push(event(`ss-${run}-e${e}`, v));
    const sent = [...unique];
    // 10% reordered: swap neighbours of one entity, so a lower version arrives after a higher one.
    for (let i = 0; i + 200 < sent.length; i += 2000 / 100) [sent[i], sent[i + 200]] = [sent[i + 200]!, sent[i]!];
    // 20% duplicates (2,000 of 10,000): the same event, same id, sent again later.
    const withDuplicates = [...sent];
    for (let d = 0; d < 2000; d++) {
      const original = sent[Math.floor((d * sent.length) / 2000)]!;
      withDuplicates.splice(Math.min(withDuplicates.length, (d + 1) * 5), 0, original);
    }
    assert.equal(withDuplicates.length, 10000);
    await publish(producer, withDuplicates);
    await waitCaughtUp(kafka);
    await assertExactlyOnce(withDuplicates);
    const entities = await (await fetch(`http://127.0.0.1:${running[0]!.port}/agents/ss-${run}-agent/entities`)).json();
    assert.equal((entities as { count: number }).count, 200, 'the agent index lists every entity of the agent');
  });

  it('dead-letters malformed records (garbage, unknown schema id, invalid body, negative version, missing key) while valid traffic flows', async () => {
    const entity = `ss-${randomUUID().slice(0, 8)}-e1`;
    const good = await codec.encode(Topics.stateChanges, event(entity, 2));
    const header = Buffer.from(good.subarray(0, 5));
    // The DLQ is shared with every earlier test (the fuzzer's thousands of letters among them): read from here on.
    const dlqFrom = (await highWatermarks(kafka, Topics.stateChanges.dlq!.name)).get(0) ?? 0n;
    await publish(producer, [event(entity, 1)]);
    await producer.sendRaw(Topics.stateChanges.name, [
      { key: entity, value: randomBytes(40) },
      { key: entity, value: Buffer.concat([Buffer.from([0, 0x3b, 0x9a, 0xc9, 0xff]), randomBytes(10)]) },
      { key: entity, value: Buffer.concat([header, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])]) },
      { key: entity, value: await codec.encode(Topics.stateChanges, event(entity, -3)) },
      { key: null, value: good },
    ]);
    await publish(producer, [event(entity, 3)]);
    await waitCaughtUp(kafka);
    assert.equal(
      await redis.hget(entityStateKey(entity), 'version'),
      '3',
      'valid events before and after were applied',
    );
    const dlqTo = (await highWatermarks(kafka, Topics.stateChanges.dlq!.name)).get(0) ?? 0n;
    const letters: Array<Buffer | null> = [];
    await readPartitionRanges(
      kafka,
      Topics.stateChanges.dlq!.name,
      [{ partition: 0, from: dlqFrom, to: dlqTo }],
      async (_p, m) => {
        letters.push(m.value);
      },
    );
    const reasons: string[] = [];
    for (const value of letters) {
      const d = await codec.decode(Topics.stateChanges.dlq!, value);
      if (d.ok && (d.value.key?.toString() === entity || (d.value.key === null && d.value.value?.equals(good))))
        reasons.push(d.value.reason);
    }
    assert.deepEqual(reasons.sort(), [
      'invalid_value',
      'missing_key',
      'schema_invalid',
      'undecodable',
      'unknown_schema_id',
    ]);
    await stopAll();
  });

  for (const window of ['crash-after-apply', 'crash-after-publish'] as const) {
    it(`SIGKILL at ${window} mid-batch, then restart: nothing lost, nothing applied or published twice`, async () => {
      const run = randomUUID().slice(0, 8);
      const crashing = await start({ FAULT_INJECT: `${window}:3` });
      const sent: StateChangeEvent[] = [];
      for (let v = 1; v <= 30; v++) for (let e = 0; e < 100; e++) sent.push(event(`ss-${run}-e${e}`, v));
      const publishing = publish(producer, sent, 100);
      const { signal } = await crashing.exited;
      assert.equal(signal, 'SIGKILL', 'the process died at the armed crash window');
      await publishing;
      if (window === 'crash-after-publish') {
        // Redis may outlive the broker (a dev machine, a restored cluster): a checkpoint written
        // against another cluster, here pointing right past what the crash published, must not be
        // trusted, or the recovery would skip those records and publish them twice.
        for (const [partition, end] of await highWatermarks(kafka, Topics.stateChangelog.name)) {
          await redis.set(stateSyncKeys(partition).checkpoint, `another-cluster@${end}`);
        }
      }
      await start();
      await waitCaughtUp(kafka);
      await assertExactlyOnce(sent);
      await stopAll();
    });
  }

  it('SIGKILL at a random moment under load, then restart: changelog complete, no duplicates (count and compare)', async () => {
    const run = randomUUID().slice(0, 8);
    const first = await start();
    const sent: StateChangeEvent[] = [];
    for (let v = 1; v <= 40; v++) for (let e = 0; e < 250; e++) sent.push(event(`ss-${run}-e${e}`, v));
    const appliedBefore = await first.metric('vigil_state_events_total{outcome="applied"');
    const publishing = publish(producer, sent, 250);
    await waitUntil(
      async () => (await first.metric('vigil_state_events_total{outcome="applied"')) - appliedBefore >= 2500,
      60000,
      'some progress before the kill',
    );
    first.child.kill('SIGKILL');
    await first.exited;
    await publishing;
    await start();
    await waitCaughtUp(kafka);
    await assertExactlyOnce(sent);
    const total = [...(await changelogOf(kafka, new Set(sent.map((e) => e.entityId)))).values()].reduce(
      (n, l) => n + l.length,
      0,
    );
    assert.equal(total, sent.length, 'changelog record count equals accepted events (all versions are fresh here)');
    await stopAll();
  });

  it('two instances share the partitions; one SIGKILLed mid-stream: the other takes over, no loss, no duplicates', async () => {
    const run = randomUUID().slice(0, 8);
    const a = await start();
    const b = await start();
    const sent: StateChangeEvent[] = [];
    for (let v = 1; v <= 40; v++) for (let e = 0; e < 250; e++) sent.push(event(`ss-${run}-e${e}`, v));
    await publish(producer, sent.slice(0, 4000), 250);
    await waitUntil(
      async () => (await a.metric('vigil_state_events_total{outcome="applied"')) > 0,
      60000,
      'instance a to work',
    );
    a.child.kill('SIGKILL');
    await a.exited;
    await publish(producer, sent.slice(4000), 250);
    await waitCaughtUp(kafka, 180000);
    await assertExactlyOnce(sent);
    assert.ok(
      (await b.metric('vigil_state_changelog_recoveries_total{what="reads"')) >= 1,
      'b read the changelog tail on takeover',
    );
    await stopAll();
  });

  it('an instance paused (SIGSTOP) between its apply and its publish, past its session: the new owner publishes, the late publish is fenced, nothing twice', async () => {
    const run = randomUUID().slice(0, 8);
    const zombie = await start({ FAULT_INJECT: 'pause-after-apply:3' });
    const owner = await start();
    const sent: StateChangeEvent[] = [];
    for (let v = 1; v <= 20; v++) for (let e = 0; e < 100; e++) sent.push(event(`ss-${run}-e${e}`, v));
    await publish(producer, sent.slice(0, 1000), 100);
    const stopped = () => readFileSync(`/proc/${zombie.child.pid}/stat`, 'utf8').split(') ')[1]?.startsWith('T');
    await waitUntil(() => stopped() === true, 60000, 'the zombie to stop itself after an apply');
    // Its session runs out, its partitions move to the owner, which reads their changelog tails and
    // publishes what the zombie applied and never published.
    await publish(producer, sent.slice(1000), 100);
    await waitCaughtUp(kafka, 120000, owner);
    zombie.child.kill('SIGCONT');
    // Resumed, it goes on with the batch it held: its publish must fail, not land a second copy.
    await waitUntil(
      async () => (await zombie.metric('vigil_consumer_batch_failures_total')) > 0,
      60000,
      'the resumed zombie to find its publish refused',
    );
    await waitCaughtUp(kafka, 120000, owner);
    await assertExactlyOnce(sent);
    await stopAll();
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sampleHeartbeat, type AgentLivenessChanged, type Heartbeat } from '@vigil/events';
import { LeaseTable } from './lease-table';
import { MinHeap } from './min-heap';

const THRESHOLD_MS = 3000;

/** A table driven by a fake monotonic clock, with a broker whose append time is that same clock. */
function harness(options: { forgetUnreachableAfterMs?: number } = {}) {
  let mono = 0;
  const table = new LeaseTable(() => mono, options);
  const changes: AgentLivenessChanged[] = [];
  const BROKER_EPOCH = 1_800_000_000_000;
  const api = {
    table,
    changes,
    get now() {
      return mono;
    },
    beat(agentId: string, overrides: Partial<Heartbeat> = {}, partition = 0) {
      const c = table.beat(sampleHeartbeat(agentId, { checks: [], ...overrides }), partition, BROKER_EPOCH + mono);
      if (c) changes.push(c);
    },
    /** The consumer is not caught up (e.g. paused by SIGSTOP, or far behind the high watermark). */
    lagging: false,
    /** Lets time pass in 10 ms steps; the poller confirms a caught-up consumer and judges at each step. */
    advance(ms: number, partitions = [0]) {
      for (let t = 0; t < ms; t += 10) {
        mono += 10;
        for (const p of partitions) {
          if (!api.lagging) table.caughtUp(p, mono);
          changes.push(...table.judge(p));
        }
      }
    },
    transitionsOf(agentId: string) {
      return changes.filter((c) => c.agentId === agentId).map((c) => c.to);
    },
    BROKER_EPOCH,
  };
  return api;
}

describe('lease table: liveness judged on broker time', () => {
  it('keeps an agent that beats every interval healthy, with no other transition', () => {
    const h = harness();
    for (let i = 0; i < 20; i++) {
      h.beat('a', { status: 'ok' });
      h.advance(1000);
    }
    assert.deepEqual(h.transitionsOf('a'), ['healthy']);
  });

  it('marks a silent agent suspect, then unreachable exactly once, never before missThreshold intervals', () => {
    const h = harness();
    h.beat('a');
    h.advance(1000);
    h.beat('a');
    const lastBeat = h.now;
    h.advance(10_000);
    assert.deepEqual(h.transitionsOf('a'), ['healthy', 'suspect', 'unreachable']);
    const dead = h.changes.find((c) => c.to === 'unreachable')!;
    assert.ok(dead.since - (h.BROKER_EPOCH + lastBeat) > 3 * 1000, 'not before 3 intervals after the last heartbeat');
    assert.ok(dead.since - (h.BROKER_EPOCH + lastBeat) <= 3 * 1000 + 20, 'and promptly after');
    assert.equal(dead.lastHeartbeatAt, h.BROKER_EPOCH + lastBeat);
  });

  it('brings an unreachable agent back with exactly one healthy (recovered) transition', () => {
    const h = harness();
    h.beat('a');
    h.advance(5000);
    h.beat('a');
    h.beat('a');
    h.advance(500);
    assert.deepEqual(h.transitionsOf('a'), ['healthy', 'suspect', 'unreachable', 'healthy']);
    assert.equal(h.changes.at(-1)!.reason, 'recovered');
  });

  it('keeps a starting agent starting through its start period, then judges it', () => {
    const h = harness();
    h.beat('a', { status: 'starting', startPeriodMs: 10_000 });
    h.advance(9_000);
    assert.deepEqual(h.transitionsOf('a'), ['starting'], 'no suspect or unreachable inside the start period');
    h.advance(4_000);
    assert.deepEqual(h.transitionsOf('a'), ['starting', 'unreachable']);
  });

  it('stops the clock of a partition whose consumer lags: no agent is declared dead for the lag', () => {
    const h = harness();
    h.beat('a');
    h.lagging = true;
    h.advance(60_000);
    assert.deepEqual(h.transitionsOf('a'), ['healthy']);
    h.beat('a'); // catching up: the backlog shows the agent was beating all along
    h.lagging = false;
    h.advance(500);
    assert.deepEqual(h.transitionsOf('a'), ['healthy']);
  });

  it('judges an agent still reporting "starting" after its start period like any other', () => {
    const h = harness();
    for (let i = 0; i < 8; i++) {
      h.beat('a', { status: 'starting', startPeriodMs: 5000 });
      h.advance(1000);
    }
    h.advance(5000); // silent now, long past the start period
    assert.deepEqual(h.transitionsOf('a'), ['starting', 'suspect', 'unreachable']);
  });

  it('keeps one heap node per lease however often agents beat (100k agents in one process)', () => {
    const h = harness();
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 2000; i++) h.beat(`a${i}`);
      h.advance(200);
    }
    assert.ok(h.table.scheduled(0) <= 2000, `heap holds ${h.table.scheduled(0)} nodes for 2000 leases`);
    assert.equal(h.changes.filter((c) => c.to !== 'healthy').length, 0);
  });

  it("ignores the agent's own clock: timestamps an hour off change nothing", () => {
    const skewed = harness();
    const honest = harness();
    for (const [h, skew] of [
      [skewed, 3_600_000],
      [honest, 0],
    ] as const) {
      h.beat('a', { timestamp: Date.now() + skew });
      h.advance(1000);
      h.beat('a', { timestamp: Date.now() - skew });
      h.advance(5000);
    }
    assert.deepEqual(skewed.changes, honest.changes);
  });

  it('deregisters an agent that stops cleanly, and never reports it unreachable', () => {
    const h = harness();
    h.beat('a');
    h.advance(1000);
    h.beat('a', { status: 'stopping' });
    h.advance(10_000);
    assert.deepEqual(h.transitionsOf('a'), ['healthy', 'deregistered']);
    assert.equal(h.table.get('a'), undefined);
  });

  it('reports an agent with failed dependency checks as degraded, and healthy again once they pass', () => {
    const h = harness();
    h.beat('a');
    h.beat('a', { checks: [{ name: 'db', ok: false, detail: 'refused' }] });
    h.beat('a');
    assert.deepEqual(h.transitionsOf('a'), ['healthy', 'degraded', 'healthy']);
    assert.match(h.changes[1]!.reason, /db/);
  });

  it('forgets an agent unreachable for the retention period: one deregistered (forgotten), its lease removed; back later, it registers anew', () => {
    const h = harness({ forgetUnreachableAfterMs: 20_000 });
    h.beat('a');
    h.beat('b');
    h.table.takeChanges(0);
    h.advance(THRESHOLD_MS + 100);
    assert.deepEqual(h.transitionsOf('a'), ['healthy', 'suspect', 'unreachable']);
    const unreachableAt = h.changes.find((c) => c.agentId === 'a' && c.to === 'unreachable')!.since;
    h.beat('b'); // b stays away long enough to be forgotten too; a is what is looked at
    h.advance(20_000 - 200);
    assert.ok(h.table.get('a'), 'kept until the retention period has passed');
    h.advance(400);
    assert.deepEqual(h.transitionsOf('a'), ['healthy', 'suspect', 'unreachable', 'deregistered']);
    const forgotten = h.changes.find((c) => c.agentId === 'a' && c.to === 'deregistered')!;
    assert.match(forgotten.reason, /^forgotten/);
    assert.ok(forgotten.since >= unreachableAt + 20_000);
    assert.equal(h.table.get('a'), undefined);
    assert.ok(h.table.takeChanges(0).removed.includes('a'), 'its lease is deleted from Redis too');
    assert.equal(h.table.scheduled(0) <= 1, true, 'no heap node left behind for it');
    h.advance(60_000);
    assert.equal(h.transitionsOf('a').length, 4, 'nothing more about it');
    h.beat('a');
    assert.equal(h.transitionsOf('a').at(-1), 'healthy');
  });

  it('keeps unreachable agents when forgetting is off', () => {
    const h = harness();
    h.beat('a');
    h.advance(120_000); // far past the 20 s retention the test above uses
    assert.deepEqual(h.transitionsOf('a'), ['healthy', 'suspect', 'unreachable']);
    assert.ok(h.table.get('a'));
  });

  it('restores a lease on another instance (after a rebalance) and still detects the death', () => {
    const a = harness();
    a.beat('x');
    const lease = a.table.get('x')!;
    const b = harness();
    b.table.restore(lease);
    b.beat('other'); // the new owner's partition clock starts from what it consumes
    b.advance(5000);
    assert.deepEqual(b.transitionsOf('x'), ['suspect', 'unreachable']);
  });

  it('forgets a restored unreachable lease once its retention period has passed on the new owner', () => {
    const a = harness({ forgetUnreachableAfterMs: 20_000 });
    a.beat('x');
    a.advance(THRESHOLD_MS + 100);
    const lease = { ...a.table.get('x')! };
    assert.equal(lease.state, 'unreachable');
    const b = harness({ forgetUnreachableAfterMs: 20_000 });
    b.table.restore(lease);
    b.beat('other');
    b.advance(5000);
    assert.deepEqual(b.transitionsOf('x'), []);
    b.advance(20_000);
    assert.deepEqual(b.transitionsOf('x'), ['deregistered']);
  });
});

/**
 * After an outage, agent "early" is back at once (its record moves the clock to the present) and
 * "late" needs 4 s to reconnect: inside the 2 s grace plus its 3 intervals, so it may be suspect for
 * a moment but never unreachable, and nobody else is.
 */
function earlyBackThenLate(h: ReturnType<typeof harness>) {
  h.beat('early');
  h.advance(4000);
  for (let i = 0; i < 5; i++) {
    h.beat('late');
    h.beat('early');
    h.advance(1000);
  }
  assert.deepEqual(
    h.changes.filter((c) => c.to === 'unreachable'),
    [],
  );
  assert.deepEqual(
    h.transitionsOf('late'),
    ['healthy', 'suspect', 'healthy'],
    'late is suspect for a moment, never unreachable: its budget runs from the end of the gap plus the grace',
  );
}

/**
 * Agents beating on partition 0, then a 30 s broker outage after which the partition is restored
 * from the snapshot taken before it (held, 2 s of grace) and caught up before any agent is back:
 * the hold ends on a clock 30 s behind the broker.
 */
function restoredAfterOutage(...agents: string[]) {
  const h = harness();
  for (const a of agents) h.beat(a);
  h.advance(500);
  const clockBeforeOutage = h.table.clock(0).now();
  const leases = agents.map((a) => structuredClone(h.table.get(a)!));
  h.lagging = true;
  h.advance(30_000);
  h.table.dropPartition(0);
  h.table.adoptPartition(0, clockBeforeOutage);
  h.table.hold(0, 2000);
  for (const l of leases) h.table.restore(l);
  h.lagging = false;
  h.advance(200);
  assert.equal(h.table.holding(0), false, 'caught up with nothing new: the hold is over');
  return h;
}

describe('lease table: timing resumes fairly after a gap', () => {
  it('judges a partition taken over on the broker times it replays: a death in the backlog is found as the replay passes it, not after catch-up', () => {
    const a = harness();
    a.beat('x');
    a.beat('y');
    const leases = [a.table.get('x')!, a.table.get('y')!];
    const clockAtHandover = a.table.clock(0).now();
    const b = harness();
    b.lagging = true; // the new owner is still reading what the old one left
    b.table.adoptPartition(0, clockAtHandover);
    for (const l of leases) b.table.restore(l);
    b.advance(10_000);
    assert.equal(b.changes.length, 0, 'no record replayed yet: its clock stands at the handover, nobody is late');
    b.beat('y', {}, 0); // the backlog shows y alive 10 s later, and x silent all along
    b.advance(10);
    assert.deepEqual(b.transitionsOf('x'), ['unreachable'], 'x is dead as of that record: found while still lagging');
    assert.deepEqual(b.transitionsOf('y'), []);
    const dead = b.changes.find((c) => c.to === 'unreachable')!;
    assert.equal(dead.lastHeartbeatAt, leases[0]!.lastBeatAt, 'the event reports the real last heartbeat');
  });

  it('a beat replayed stale (past its threshold at the partition end) revives nobody and registers nobody; a fresh one does', () => {
    const h = harness();
    h.beat('gone');
    h.advance(THRESHOLD_MS + 100);
    assert.deepEqual(h.transitionsOf('gone'), ['healthy', 'suspect', 'unreachable']);
    const stale = (agentId: string) =>
      h.table.beat(sampleHeartbeat(agentId, { checks: [] }), 0, h.BROKER_EPOCH + h.now, undefined, true);
    assert.equal(stale('ghost'), undefined, 'an agent seen only in stale records is not registered');
    assert.equal(h.table.get('ghost'), undefined);
    assert.equal(stale('gone'), undefined, 'a known dead agent is not revived by an old beat');
    assert.equal(h.table.get('gone')!.state, 'unreachable');
    assert.equal(h.table.get('gone')!.lastBeatAt, h.BROKER_EPOCH + h.now, 'but its last beat moves on');
    h.beat('gone');
    assert.deepEqual(
      h.transitionsOf('gone'),
      ['healthy', 'suspect', 'unreachable', 'healthy'],
      'a fresh beat brings it back',
    );
  });

  it('a known healthy agent that died inside the backlog: stale beats keep timing it, one unreachable when the replay passes its death', () => {
    const h = harness();
    h.beat('x');
    h.lagging = true;
    for (let i = 0; i < 5; i++) {
      h.advance(1000);
      h.table.beat(sampleHeartbeat('x', { checks: [] }), 0, h.BROKER_EPOCH + h.now, undefined, true);
    }
    h.advance(THRESHOLD_MS + 100);
    h.beat('other'); // a later record moves the replay's clock past x's deadline
    h.advance(10);
    assert.deepEqual(h.transitionsOf('x'), ['healthy', 'unreachable']);
    const dead = h.changes.find((c) => c.to === 'unreachable')!;
    assert.equal(dead.lastHeartbeatAt, h.BROKER_EPOCH + 5000, 'timed from its last (stale) beat');
  });

  it('after this instance lost the broker, the agents heard first do not make the others look dead', () => {
    const h = harness();
    h.beat('early');
    h.beat('late');
    h.advance(500);
    h.lagging = true; // the watermarks cannot be read: the broker is away
    h.table.hold(0, 2000);
    h.advance(30_000);
    h.lagging = false;
    earlyBackThenLate(h);
  });

  it('a partition restored after an outage and caught up before any agent is back: the first record does not make the others look dead', () => {
    const h = restoredAfterOutage('early', 'late');
    earlyBackThenLate(h);
  });

  it('an agent that stays away after such a restore is still declared unreachable, once, after the grace and its intervals', () => {
    const h = restoredAfterOutage('back', 'gone');
    for (let i = 0; i < 4; i++) {
      h.beat('back');
      h.advance(1000);
    }
    assert.ok(
      !h.transitionsOf('gone').includes('unreachable'),
      'not before the grace and its 3 intervals have passed since the first record after the outage',
    );
    for (let i = 0; i < 3; i++) {
      h.beat('back');
      h.advance(1000);
    }
    assert.deepEqual(h.transitionsOf('gone'), ['healthy', 'suspect', 'unreachable']);
    assert.deepEqual(h.transitionsOf('back'), ['healthy']);
  });
});

describe('MinHeap', () => {
  it('pops in order', () => {
    const heap = new MinHeap<number>((a, b) => a < b);
    const values = Array.from({ length: 1000 }, (_, i) => (i * 7919) % 1000);
    for (const v of values) heap.push(v);
    const out: number[] = [];
    while (heap.size > 0) out.push(heap.pop()!);
    assert.deepEqual(
      out,
      [...values].sort((a, b) => a - b),
    );
  });
});

describe('lease table: the agent registry follows who agents are, not how they are', () => {
  it('reports an agent as registered on its first beat and when its identity changes, not on every beat; removed when it stops', () => {
    const h = harness();
    const take = () => h.table.takeChanges(0);
    h.beat('a', { status: 'ok' });
    assert.deepEqual(take().registered, ['a']);
    h.advance(1000);
    h.beat('a', { status: 'ok', metrics: { cpu: 99 } });
    h.beat('a', { status: 'degraded' });
    assert.deepEqual(take().registered, [], 'status, metrics and checks are not identity');
    h.beat('a', { labels: { role: 'db', zone: 'b' } });
    assert.deepEqual(take().registered, ['a'], 'labels are');
    h.beat('a', { bootId: 'boot-2' });
    assert.deepEqual(take().registered, ['a'], 'a restart (new boot id) is');
    h.beat('a', { status: 'stopping' });
    const last = take();
    assert.deepEqual(last.registered, []);
    assert.deepEqual(last.removed, ['a']);
  });

  it('keeps a registration whose write failed for the next write', () => {
    const h = harness();
    h.beat('a');
    const failed = h.table.takeChanges(0);
    h.table.markDirty(0, failed);
    assert.deepEqual(h.table.takeChanges(0).registered, ['a']);
  });
});

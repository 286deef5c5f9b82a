// Restore plans as specifications: order, cycles, estimates against RTOs, and a run on a fake clock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sampleRestoreResult, type RestoreArchive } from '@vigil/events';
import { planRestore, type PlanAgent, type PlanSettings } from './restore-plan';
import { advance, onResult, summary, type ProgressSettings, type RestorePlan } from './restore-progress';

const MB = 1e6;
const archive = (bytes: number): RestoreArchive => ({
  jobId: 'j',
  kind: 'full',
  location: '/b/j.tar.gz',
  manifestLocation: '/b/j.manifest.json',
  sizeBytes: bytes,
  sha256: 'a'.repeat(64),
});
const agent = (agentId: string, tier: number, dependencies: string[] = [], bytes = 100 * MB): PlanAgent => ({
  agentId,
  tier,
  dependencies,
  chain: [archive(bytes)],
  heartbeatIntervalMs: 1000,
});
const settings: PlanSettings = {
  rtoMs: [15 * 60_000, 3_600_000, 8 * 3_600_000],
  bytesPerSecond: 10 * MB,
  parallelism: 2,
  stepOverheadMs: 0,
};
const order = (agents: PlanAgent[], s = settings) => {
  const p = planRestore(agents, s);
  assert.ok(p.ok);
  return p.steps.map((x) => x.agentId);
};

describe('restore plans: dependencies first, then tiers, estimated against each tier RTO', () => {
  it('orders db -> auth -> web by their dependencies even when the tiers say otherwise', () => {
    assert.deepEqual(order([agent('web', 0, ['auth']), agent('auth', 1, ['db']), agent('db', 2)]), [
      'db',
      'auth',
      'web',
    ]);
  });

  it('among agents whose dependencies are done, the lower tier first, then by id', () => {
    assert.deepEqual(order([agent('c', 2), agent('b', 1), agent('a', 1), agent('z', 0)]), ['z', 'a', 'b', 'c']);
  });

  it('refuses a dependency cycle, naming it', () => {
    const p = planRestore(
      [agent('db', 0, ['web']), agent('auth', 1, ['db']), agent('web', 2, ['auth']), agent('x', 0)],
      settings,
    );
    assert.deepEqual(p, { ok: false, cycle: ['auth', 'db', 'web', 'auth'] });
  });

  it('ignores a dependency outside the plan, with a warning; an agent without a backup is a problem', () => {
    const p = planRestore([agent('auth', 1, ['db']), { ...agent('web', 2), chain: null }], settings);
    assert.ok(p.ok);
    assert.deepEqual(p.warnings, ['auth depends on db, which is not in this plan: assumed up']);
    assert.deepEqual(p.problems, ['web has no verified backup to restore']);
  });

  it('estimates each step from bytes and throughput plus a heartbeat, in parallel up to the bound, and marks RTO misses', () => {
    // 100 MB at 10 MB/s = 10 s + 1 s heartbeat. db and cache run side by side; auth waits for db.
    const p = planRestore(
      [agent('db', 0), agent('cache', 0), agent('auth', 1, ['db']), agent('big', 0, [], 9_000 * MB)],
      { ...settings, rtoMs: [60_000, 3_600_000] },
    );
    assert.ok(p.ok);
    const at = Object.fromEntries(p.steps.map((x) => [x.agentId, [x.startsAtMs, x.finishesAtMs, x.missesRto]]));
    assert.deepEqual(at, {
      big: [0, 901_000, true],
      cache: [0, 11_000, false],
      db: [11_000, 22_000, false],
      auth: [22_000, 33_000, false],
    });
    assert.equal(p.estimateMs, 901_000);
  });
});

describe('a running restore plan, on a fake clock', () => {
  const progress: ProgressSettings = {
    parallelism: 2,
    resendAfterMs: 10_000,
    healthTimeoutMs: 60_000,
    minStepTimeoutMs: 120_000,
  };
  const draft = (): RestorePlan => {
    const p = planRestore(
      [agent('web', 2, ['auth']), agent('auth', 1, ['db']), agent('db', 0), agent('log', 2)],
      settings,
    );
    assert.ok(p.ok);
    return {
      planId: 'p1',
      rev: 0,
      status: 'running',
      createdAt: 0,
      startedAt: 0,
      finishedAt: null,
      targetDir: null,
      steps: p.steps,
      warnings: [],
      problems: [],
      estimateMs: p.estimateMs,
      rtoMisses: [],
      stoppedBy: null,
    };
  };
  const result = (
    plan: RestorePlan,
    agentId: string,
    status: 'running' | 'succeeded' | 'failed',
    error: string | null = null,
  ) =>
    sampleRestoreResult({
      restoreId: `p1/${agentId}`,
      planId: 'p1',
      agentId,
      status,
      error,
      attempt: plan.steps.find((s) => s.agentId === agentId)!.attempt,
    });
  const statuses = (p: RestorePlan) => Object.fromEntries(p.steps.map((s) => [s.agentId, s.status]));

  it('starts what has no pending dependency (up to the bound), waits for each restored agent to be healthy, then goes on', () => {
    const healthy = new Map<string, number>();
    let { plan, send } = advance(draft(), 1000, progress, (id) => healthy.get(id))!;
    assert.deepEqual(
      send.map((s) => s.agentId),
      ['db', 'log'],
      'independent steps side by side',
    );
    plan = onResult(plan, result(plan, 'db', 'running'), 1500)!;
    plan = onResult(plan, result(plan, 'db', 'succeeded'), 5000)!;
    assert.equal(
      advance(plan, 5100, progress, (id) => healthy.get(id)),
      undefined,
      'restored, not healthy yet: auth waits',
    );
    healthy.set('db', 4000);
    assert.equal(
      advance(plan, 5200, progress, (id) => healthy.get(id)),
      undefined,
      'a heartbeat from before the restore does not count',
    );
    healthy.set('db', 6000);
    ({ plan, send } = advance(plan, 6100, progress, (id) => healthy.get(id))!);
    assert.deepEqual(
      send.map((s) => s.agentId),
      ['auth'],
    );
    assert.deepEqual(statuses(plan), { db: 'done', auth: 'restoring', log: 'restoring', web: 'pending' });
    assert.equal(
      onResult(plan, { ...result(plan, 'auth', 'succeeded'), attempt: 7 }, 6200),
      undefined,
      'another attempt: stale',
    );
  });

  it('resends an unacknowledged command with the same attempt, and times a silent step out', () => {
    let { plan } = advance(draft(), 0, progress, () => undefined)!;
    const again = advance(plan, 10_000, progress, () => undefined)!;
    assert.deepEqual(
      again.send.map((s) => [s.agentId, s.attempt]),
      [
        ['db', 1],
        ['log', 1],
      ],
    );
    plan = onResult(again.plan, result(again.plan, 'db', 'running'), 10_500)!;
    const later = advance(plan, 20_000, progress, () => undefined)!;
    assert.deepEqual(
      later.send.map((s) => s.agentId),
      ['log'],
      'db acknowledged: not resent',
    );
    const timedOut = advance(later.plan, 121_000, progress, () => undefined)!;
    assert.equal(timedOut.plan.status, 'failed');
    assert.match(timedOut.plan.stoppedBy!, /^db: no result within 120000 ms$/);
  });

  it('stops at the first failure: nothing new starts, what is in flight is reported, the summary says what was restored', () => {
    const healthy = new Map<string, number>([['db', 9e9]]);
    let { plan } = advance(draft(), 0, progress, () => undefined)!;
    plan = onResult(plan, result(plan, 'db', 'succeeded'), 100)!;
    plan = advance(plan, 200, progress, (id) => healthy.get(id))!.plan;
    plan = onResult(plan, result(plan, 'auth', 'failed', 'refused: archive x: SHA-256 y is not the verified z'), 300)!;
    plan = advance(plan, 400, progress, (id) => healthy.get(id))!.plan;
    assert.equal(plan.status, 'failed');
    assert.equal(plan.stoppedBy, 'auth: refused: archive x: SHA-256 y is not the verified z');
    assert.deepEqual(statuses(plan), { db: 'done', auth: 'failed', log: 'restoring', web: 'skipped' });
    assert.equal(plan.finishedAt, null, 'log is still in flight');
    plan = onResult(plan, result(plan, 'log', 'succeeded'), 500)!;
    plan = advance(plan, 600, progress, () => 9e9)!.plan;
    assert.equal(plan.finishedAt, 600);
    assert.deepEqual(summary(plan), {
      restored: ['db', 'log'],
      inProgress: [],
      failed: [{ agentId: 'auth', error: 'refused: archive x: SHA-256 y is not the verified z' }],
      notRestored: ['web'],
    });
  });

  it('a restored agent that never turns healthy fails its step', () => {
    let { plan } = advance(draft(), 0, progress, () => undefined)!;
    plan = onResult(plan, result(plan, 'db', 'succeeded'), 100)!;
    plan = advance(plan, 60_101, progress, () => undefined)!.plan;
    assert.equal(plan.stoppedBy, 'db: restored, but no healthy heartbeat within 60000 ms');
  });
});

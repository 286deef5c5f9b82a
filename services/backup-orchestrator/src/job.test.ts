import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BackupResult } from '@vigil/events';
import { failAttempt, newJob, onDue, onReport, onVerified, type Job } from './job';
import { latestSlot, policySchema, selects } from './policy';

const start = newJob(
  {
    jobId: 'nightly/a1/full@1',
    policyId: 'nightly',
    agentId: 'a1',
    trigger: 'scheduled',
    kind: 'full',
    base: null,
    paths: ['/data'],
    maxAttempts: 2,
    timeoutMs: 10_000,
    retryBackoffMs: 1_000,
    requestedAt: 0,
  },
  0,
);
const report = (job: Job, status: BackupResult['status'], attempt = job.attempt): BackupResult => ({
  jobId: job.jobId,
  agentId: 'a1',
  status,
  location: '/s/a',
  sizeBytes: 10,
  sha256: 'ab',
  error: status === 'failed' ? 'disk full' : null,
  reportedAt: 1,
  kind: 'full',
  baseJobId: null,
  manifestLocation: '/s/a.m',
  fileCount: 3,
  durationMs: 5,
  attempt,
});

describe('a backup job', () => {
  it('is requested with its first command, runs, and is verified from the archive read back', () => {
    assert.equal(start.command?.attempt, 1);
    const running = onReport(start.job, report(start.job, 'running'), 5);
    assert.ok(running !== 'verify');
    assert.equal(running.job.status, 'running');
    assert.equal(onReport(running.job, report(running.job, 'succeeded'), 6), 'verify');
    const v = onVerified(running.job, report(running.job, 'succeeded'), undefined, 7);
    assert.equal(v.job.status, 'succeeded');
    assert.equal(v.verdict?.verdict, 'verified');
    assert.equal(v.verdict?.sha256, 'ab');
  });

  it('fails verification with the reason, and is not retried', () => {
    const v = onVerified(start.job, report(start.job, 'succeeded'), 'sha256 differs', 7);
    assert.deepEqual([v.job.status, v.verdict?.verdict, v.verdict?.reason], ['failed', 'failed', 'sha256 differs']);
  });

  it('retries a failed attempt after the backoff, then gives up with the last reason', () => {
    const failed = onReport(start.job, report(start.job, 'failed'), 100);
    assert.ok(failed !== 'verify');
    assert.deepEqual(
      [failed.job.status, failed.job.attempt, failed.job.waiting, failed.command],
      ['requested', 2, true, undefined],
    );
    assert.equal(onDue(failed.job, 1_099).noop, true, 'the backoff runs to 1100');
    const retry = onDue(failed.job, 1_100);
    assert.equal(retry.command?.attempt, 2);
    const last = failAttempt(retry.job, 'disk full', false, 2_000);
    assert.equal(last.verdict?.verdict, 'failed');
    assert.match(last.verdict!.reason!, /attempt 2 of 2: disk full/);
  });

  it('times out an attempt without an outcome; ignores reports of another attempt or after the verdict', () => {
    const out = onDue(start.job, 10_000);
    assert.equal(out.job.attempt, 2);
    const stale = onReport({ ...out.job, waiting: false }, report(start.job, 'succeeded', 1), 10_001);
    assert.ok(stale !== 'verify' && stale.noop);
    const gaveUp = onDue({ ...start.job, attempt: 2 }, 10_000);
    assert.equal(gaveUp.verdict?.verdict, 'timed_out');
    const late = onReport(gaveUp.job, report(gaveUp.job, 'succeeded'), 10_001);
    assert.ok(late !== 'verify' && late.noop);
  });
});

describe('schedules and selectors', () => {
  it('finds the newest slot at or before now, in the schedule time zone, not before `after`', () => {
    const at = Date.parse('2026-03-30T02:30:00Z'); // Berlin is on CEST (UTC+2) since the day before
    const berlin = { cron: '0 2 * * *', timezone: 'Europe/Berlin' };
    assert.equal(latestSlot(berlin, at, 0), Date.parse('2026-03-30T00:00:00Z'));
    // The day of the switch has no 02:00 in Berlin: that slot does not exist.
    assert.equal(latestSlot(berlin, Date.parse('2026-03-29T02:30:00Z'), 0), Date.parse('2026-03-28T01:00:00Z'));
    assert.equal(latestSlot({ cron: '0 2 * * *', timezone: 'UTC' }, at, 0), Date.parse('2026-03-30T02:00:00Z'));
    assert.equal(latestSlot({ cron: '0 2 * * *', timezone: 'UTC' }, at, at - 60_000), undefined);
    assert.equal(latestSlot({ cron: '*/5 * * * * *', timezone: 'UTC' }, 1_000_012_345, 0), 1_000_010_000);
  });

  it('selects agents by label', () => {
    const [p] = policySchema.parse({
      policies: [{ id: 'db', selector: ['role=db', 'env!=dev'], paths: ['/d'] }],
    }).policies;
    assert.ok(selects(p!, { role: 'db', env: 'prod' }));
    assert.ok(!selects(p!, { role: 'db', env: 'dev' }));
    assert.ok(!selects(p!, { role: 'web' }));
  });

  it('refuses a bad cron expression or time zone, naming it', () => {
    const bad = policySchema.safeParse({ policies: [{ id: 'x', paths: ['/d'], full: { cron: '61 * * * *' } }] });
    assert.ok(!bad.success);
    assert.match(bad.error.issues[0]!.message, /cron "61 \* \* \* \*"/);
    assert.ok(
      !policySchema.safeParse({
        policies: [{ id: 'x', paths: ['/d'], full: { cron: '0 * * * *', timezone: 'Mars/Olympus' } }],
      }).success,
    );
  });
});

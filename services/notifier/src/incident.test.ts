import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sampleBackupVerified, type AgentLivenessChanged, type HealResult } from '@vigil/events';
import { fingerprint, IncidentRules, newIncident, type Incident, type Step } from './incident';
import { policySchema } from './policy';

const policy = policySchema.parse({
  heal: { timeoutMs: 5_000, verifyMs: 8_000, backoff: { initialMs: 1_000, factor: 2, maxMs: 3_000, jitter: 0 } },
});
const rules = new IncidentRules(policy);

const liveness = (to: AgentLivenessChanged['to'], since: number, from: AgentLivenessChanged['from'] = 'healthy') => ({
  agentId: 'a1',
  from,
  to,
  since,
  lastHeartbeatAt: since - 3000,
  reason: '',
  host: 'h1',
  eventId: `a1/${from}>${to}@${since}`,
});
const result = (i: Incident, success: boolean): HealResult => ({
  commandId: i.attempts.at(-1)!.commandId,
  agentId: 'a1',
  action: 'restart',
  attempt: i.attempts.length,
  success,
  error: success ? null : 'process would not start',
  completedAt: 0,
});

/** Runs the incident forward: each call applies one step and returns it. */
function driver(start = newIncident('a1')) {
  let i = start;
  const apply = (s: Step) => ((i = s.incident), s);
  return {
    get incident() {
      return i;
    },
    liveness: (to: AgentLivenessChanged['to'], since: number, now: number) =>
      apply(rules.onLiveness(i, liveness(to, since), now)),
    result: (success: boolean, now: number) => apply(rules.onHealResult(i, result(i, success), now)),
    due: (now: number) => apply(rules.onDue(i, now)),
  };
}

describe('incident rules: heal first, then alert once, resolve when the cause clears', () => {
  it('heals an unreachable agent three times with growing gaps, then fires one alert, and resolves it once when the agent is back', () => {
    const d = driver();
    const first = d.liveness('unreachable', 100, 0);
    assert.equal(first.heals.length, 1);
    assert.equal(first.heals[0]!.attempt, 1);
    assert.equal(first.heals[0]!.action, 'restart');
    assert.equal(d.result(false, 500).heals.length, 0, 'a failed heal waits out its backoff');
    assert.equal(d.incident.dueAt, 1_500);
    assert.equal(d.due(1_499).noop, true, 'not before its time');
    assert.equal(d.due(1_500).heals[0]!.attempt, 2);
    d.result(false, 2_000);
    assert.equal(d.incident.dueAt, 4_000, 'the second gap is twice the first');
    assert.equal(d.due(4_000).heals[0]!.attempt, 3);
    const escalated = d.result(false, 4_100);
    assert.equal(escalated.alerts.length, 1);
    assert.equal(escalated.alerts[0]!.status, 'firing');
    assert.equal(escalated.alerts[0]!.labels.agent, 'a1');
    assert.equal(escalated.escalatedAfterMs, 4_100);
    assert.equal(d.incident.phase, 'alerting');
    assert.deepEqual(
      d.incident.attempts.map((a) => a.outcome),
      ['failed', 'failed', 'failed'],
    );
    const back = d.liveness('healthy', 9_000, 10_000);
    assert.equal(back.alerts.length, 1);
    assert.equal(back.alerts[0]!.status, 'resolved');
    assert.equal(back.alerts[0]!.fingerprint, escalated.alerts[0]!.fingerprint);
    assert.equal(back.alerts[0]!.endsAt, 10_000);
    assert.equal(d.liveness('healthy', 9_500, 10_500).alerts.length, 0, 'resolved once');
  });

  it('raises no alert when a heal succeeds and the agent comes back', () => {
    const d = driver();
    d.liveness('unreachable', 100, 0);
    d.result(false, 100);
    d.due(1_100);
    assert.equal(d.result(true, 1_200).alerts.length, 0);
    assert.equal(d.incident.phase, 'verifying');
    const back = d.liveness('healthy', 2_000, 2_000);
    assert.deepEqual(back.alerts, []);
    assert.equal(d.incident.phase, 'closed');
  });

  it('counts a heal without a result in its timeout as failed, and a success the agent does not follow as failed', () => {
    const d = driver();
    d.liveness('unreachable', 100, 0);
    d.due(5_000);
    assert.equal(d.incident.attempts[0]!.outcome, 'timed out');
    d.due(6_000);
    d.result(true, 6_100);
    d.due(14_100);
    assert.equal(d.incident.attempts[1]!.outcome, 'not recovered');
    assert.equal(d.incident.phase, 'waiting');
  });

  it('the same cause reported again and again opens one incident, issues one heal and fires one alert', () => {
    const d = driver();
    let heals = 0;
    let alerts = 0;
    for (let n = 0; n < 100; n++) {
      const s = d.liveness('unreachable', 100 + n, n);
      heals += s.heals.length;
      alerts += s.alerts.length;
    }
    assert.equal(heals, 1);
    d.result(false, 200);
    d.due(1_200);
    d.result(false, 1_300);
    d.due(3_300);
    alerts += d.result(false, 3_400).alerts.length;
    for (let n = 0; n < 100; n++) alerts += d.liveness('unreachable', 5_000 + n, 5_000).alerts.length;
    assert.equal(alerts, 1);
  });

  it('ignores a redelivered event older than the newest applied: a replay cannot reopen what a later event closed', () => {
    const d = driver();
    d.liveness('unreachable', 100, 0);
    d.liveness('healthy', 200, 50);
    assert.equal(d.incident.phase, 'closed');
    const replay = d.liveness('unreachable', 100, 60);
    assert.equal(replay.noop, true);
    assert.equal(replay.heals.length, 0);
  });

  it('recovery cancels what is pending; a late result of a cancelled heal changes nothing', () => {
    const d = driver();
    d.liveness('unreachable', 100, 0);
    const stale = result(d.incident, false);
    d.liveness('healthy', 200, 100);
    assert.equal(d.incident.attempts[0]!.outcome, 'cancelled');
    assert.equal(d.incident.dueAt, undefined);
    assert.equal(rules.onHealResult(d.incident, stale, 300).noop, true);
  });

  it('leaves a deregistered agent alone, resolving its alert', () => {
    const d = driver();
    d.liveness('unreachable', 100, 0);
    d.due(5_000);
    d.due(6_000);
    d.due(11_000);
    d.due(13_000);
    d.due(18_000);
    assert.equal(d.incident.phase, 'alerting');
    const gone = d.liveness('deregistered', 20_000, 20_000);
    assert.equal(gone.alerts[0]!.status, 'resolved');
    assert.equal(d.incident.phase, 'closed');
    assert.equal(d.due(99_000).heals.length, 0);
  });

  it('alerts at once when no heal applies to the cause', () => {
    const noHeal = new IncidentRules(policySchema.parse({ heal: { actions: { degraded: null } } }));
    const s = noHeal.onLiveness(newIncident('a1'), liveness('degraded', 100), 0);
    assert.equal(s.heals.length, 0);
    assert.equal(s.alerts[0]!.alertName, 'AgentDegraded');
    assert.equal(s.alerts[0]!.severity, 'warning');
  });

  it('derives command ids from the opening event, so a republished command is the same command', () => {
    const a = rules.onLiveness(newIncident('a1'), liveness('unreachable', 100), 0);
    const b = rules.onLiveness(newIncident('a1'), liveness('unreachable', 100), 999);
    assert.equal(a.heals[0]!.commandId, b.heals[0]!.commandId);
  });

  it('jitters backoff within the configured band and caps it', () => {
    const low = new IncidentRules(policySchema.parse({ heal: { backoff: { initialMs: 1000, jitter: 0.2 } } }), () => 0);
    const high = new IncidentRules(
      policySchema.parse({ heal: { backoff: { initialMs: 1000, jitter: 0.2 } } }),
      () => 0.999,
    );
    assert.equal(low.backoffMs(2), 800);
    assert.ok(high.backoffMs(2) > 1190 && high.backoffMs(2) <= 1200);
    assert.equal(rules.backoffMs(10), 3_000);
  });

  it('fingerprints a label set whatever the order of its labels', () => {
    assert.equal(fingerprint({ a: '1', b: '2' }), fingerprint({ b: '2', a: '1' }));
    assert.notEqual(fingerprint({ a: '1' }), fingerprint({ a: '2' }));
  });

  it('labels an alert with what the agent registry says about the agent, never changing its identity', () => {
    const d = driver();
    const who = {
      agentId: 'a1',
      host: 'db-host-3',
      agentVersion: '2.1.0',
      priorityTier: 0,
      dependencies: [],
      labels: { team: 'storage', agent: 'spoofed', alertname: 'spoofed' },
      intervalMs: 1000,
      missThreshold: 3,
      startPeriodMs: 0,
      bootId: 'b',
      registeredAt: 0,
      changedAt: 0,
    };
    d.liveness('unreachable', 100, 0);
    d.due(5_000);
    d.due(6_000);
    d.due(11_000);
    d.due(13_000);
    const fired = rules.onDue(d.incident, 18_000, who);
    const alert = fired.alerts[0]!;
    assert.deepEqual(alert.labels, {
      team: 'storage',
      tier: '0',
      version: '2.1.0',
      host: 'db-host-3',
      alertname: 'AgentUnreachable',
      agent: 'a1',
      cause: 'unreachable',
    });
    assert.equal(alert.fingerprint, fingerprint({ alertname: 'AgentUnreachable', agent: 'a1', cause: 'unreachable' }));
  });
});

describe('a pre-heal backup', () => {
  const pre = new IncidentRules(
    policySchema.parse({
      heal: { preHealBackup: { policyId: 'nightly', waitMs: 30_000 }, backoff: { jitter: 0 } },
    }),
  );
  const down = (since: number): AgentLivenessChanged => ({
    agentId: 'a1',
    from: 'healthy',
    to: 'unreachable',
    since,
    lastHeartbeatAt: since - 3000,
    reason: '',
    host: 'h1',
    eventId: `a1/healthy>unreachable@${since}`,
  });
  const verdict = (jobId: string, v: 'verified' | 'failed' = 'verified') => ({
    ...sampleBackupVerified(),
    agentId: 'a1',
    jobId,
    verdict: v,
  });

  it('is asked for before the first heal, which waits for its verdict, whatever it says', () => {
    const opened = pre.onLiveness(newIncident('a1'), down(1000), 1000);
    assert.equal(opened.incident.phase, 'backing_up');
    assert.deepEqual(opened.heals, []);
    assert.deepEqual(
      opened.backups?.map((b) => [b.policyId, b.trigger, b.requestId]),
      [['nightly', 'pre_heal', 'a1/healthy>unreachable@1000']],
    );
    assert.equal(pre.onBackupVerdict(opened.incident, verdict('nightly/a1/incremental@manual-1'), 2000).noop, true);
    const healed = pre.onBackupVerdict(
      opened.incident,
      verdict('nightly/a1/incremental@pre_heal-a1/healthy>unreachable@1000', 'failed'),
      2000,
    );
    assert.equal(healed.incident.phase, 'healing');
    assert.equal(healed.heals[0]?.attempt, 1);
  });

  it('heals anyway when no verdict comes within waitMs', () => {
    const opened = pre.onLiveness(newIncident('a1'), down(1000), 1000);
    assert.equal(pre.onDue(opened.incident, 30_999).noop, true);
    assert.equal(pre.onDue(opened.incident, 31_000).heals.length, 1);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AlertEvent, BackupVerified, HealCommand } from '@vigil/events';
import { auditAlerts, auditBackups, slotsBetween } from './action-audits';

const alert = (agentId: string, status: AlertEvent['status'], startsAt: number, alertName = 'AgentUnreachable') =>
  ({ fingerprint: `${alertName}:${agentId}`, alertName, agentId, status, startsAt, endsAt: null }) as AlertEvent;
const heal = (agentId: string, attempt: number) =>
  ({ commandId: `${agentId}#${attempt}`, agentId, attempt }) as HealCommand;
const verdict = (jobId: string, attempt: number, v: BackupVerified['verdict'] = 'verified') =>
  ({ jobId, attempt, verdict: v, agentId: jobId.split('/')[1] }) as BackupVerified;

describe("the soak's notifier audit", () => {
  const fleet = { agentIds: ['a-1', 'a-2', 'a-3'], killed: new Set(['a-1', 'a-2']), maxAttempts: 2 };

  it('takes a killed agent healed twice then alerted once, its copies republished after a crash, as right', () => {
    const violations: string[] = [];
    const audit = auditAlerts(
      [alert('a-1', 'firing', 10), alert('a-1', 'firing', 10), alert('a-2', 'firing', 20)],
      [heal('a-1', 1), heal('a-1', 2), heal('a-1', 2), heal('a-2', 1), heal('a-2', 2)],
      fleet,
      violations,
    );
    assert.deepEqual(violations, []);
    assert.equal(audit.killedAlertedOnce, 2);
    assert.equal(audit.republished, 1);
    assert.equal(audit.healCommands, 4);
  });

  it('finds an alert fired twice for one cause, a killed agent never alerted, a live one alerted, heals off policy', () => {
    const violations: string[] = [];
    const audit = auditAlerts(
      [alert('a-1', 'firing', 10), alert('a-1', 'firing', 30), alert('a-3', 'firing', 5, 'BackupFailed')],
      [heal('a-1', 1), heal('a-1', 2), heal('a-2', 1)],
      fleet,
      violations,
    );
    assert.deepEqual(audit.firedTwice, ['AgentUnreachable:a-1']);
    assert.deepEqual(audit.killedNotAlerted, ['a-2']);
    assert.equal(audit.falseAlerts, 1);
    assert.deepEqual(audit.healsNotPerPolicy, ['a-2']);
    assert.equal(violations.length, 4);
  });

  it('lets an alert fire again after it was resolved', () => {
    const violations: string[] = [];
    auditAlerts(
      [alert('a-1', 'firing', 10), alert('a-1', 'resolved', 10), alert('a-1', 'firing', 40), alert('a-2', 'firing', 1)],
      [heal('a-1', 1), heal('a-1', 2), heal('a-2', 1), heal('a-2', 2)],
      fleet,
      violations,
    );
    assert.deepEqual(violations, []);
  });
});

describe("the soak's backup audit", () => {
  const slots = slotsBetween(Date.UTC(2026, 0, 1, 0, 0, 1), Date.UTC(2026, 0, 1, 0, 0, 31), 15_000);
  const job = (agent: string, slot: number) => `soak/${agent}/full@${new Date(slot).toISOString()}`;

  it('puts the slots of an epoch-aligned schedule inside the window', () => {
    assert.deepEqual(slots, [Date.UTC(2026, 0, 1, 0, 0, 15), Date.UTC(2026, 0, 1, 0, 0, 30)]);
  });

  it('wants every due slot verified once per agent; a retried attempt that verified is one run', () => {
    const violations: string[] = [];
    const audit = auditBackups(
      [
        verdict(job('a-1', slots[0]!), 1),
        verdict(job('a-1', slots[0]!), 1),
        verdict(job('a-1', slots[1]!), 1, 'timed_out'),
        verdict(job('a-1', slots[1]!), 2),
      ],
      { policyId: 'soak', kind: 'full', agents: ['a-1'], slots },
      violations,
    );
    assert.deepEqual(violations, []);
    assert.deepEqual(
      {
        expected: audit.expected,
        verified: audit.verified,
        notVerified: audit.notVerified,
        republished: audit.republished,
      },
      { expected: 2, verified: 2, notVerified: 1, republished: 1 },
    );
  });

  it('finds a slot never verified and a job verified for two attempts', () => {
    const violations: string[] = [];
    const audit = auditBackups(
      [verdict(job('a-1', slots[0]!), 1), verdict(job('a-1', slots[0]!), 2)],
      { policyId: 'soak', kind: 'full', agents: ['a-1'], slots },
      violations,
    );
    assert.deepEqual(audit.missing, [job('a-1', slots[1]!)]);
    assert.deepEqual(audit.ranTwice, [job('a-1', slots[0]!)]);
    assert.equal(violations.length, 2);
  });
});

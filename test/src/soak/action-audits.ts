// What the soak checks of the services that act: the notifier (heals, then one alert per cause) and
// the backup-orchestrator (one verified backup per schedule slot and agent). Both read the records
// as published, so a record republished after a crash (at-least-once, the same record) is counted
// apart from a second decision (a new alert, a second attempt verified).
import type { AlertEvent, BackupVerified, HealCommand } from '@vigil/events';

/** Most violations of one kind listed one by one; past it the counts tell the rest. */
const LISTED = 10;

export interface AlertAudit {
  /** Distinct alert events (fingerprint, status, start and end) about the fleet's agents. */
  alerts: number;
  /** Records that repeated one of those: republished after a crash, the same alert. */
  republished: number;
  killedAlertedOnce: number;
  killedNotAlerted: string[];
  /** Fingerprints that fired again without being resolved in between. */
  firedTwice: string[];
  /** Alerts about agents that were never killed. */
  falseAlerts: number;
  /** Distinct heal commands (by id), and those whose agent got other attempts than 1..maxAttempts. */
  healCommands: number;
  healsNotPerPolicy: string[];
}

/**
 * The notifier's policy in the soak: every heal fails (the fleet's supervisor answers so), so each
 * killed agent gets heal attempts 1..maxAttempts, each once, then exactly one AgentUnreachable alert;
 * no alert ever fires twice for one fingerprint without a resolution between; no live agent is alerted.
 */
export function auditAlerts(
  alerts: readonly AlertEvent[],
  heals: readonly HealCommand[],
  fleet: { agentIds: readonly string[]; killed: ReadonlySet<string>; maxAttempts: number },
  violations: string[],
): AlertAudit {
  const distinct = new Map<string, AlertEvent>();
  for (const a of alerts) distinct.set(`${a.fingerprint}|${a.status}|${a.startsAt}|${a.endsAt ?? ''}`, a);
  const audit: AlertAudit = {
    alerts: distinct.size,
    republished: alerts.length - distinct.size,
    killedAlertedOnce: 0,
    killedNotAlerted: [],
    firedTwice: [],
    falseAlerts: 0,
    healCommands: new Set(heals.map((h) => h.commandId)).size,
    healsNotPerPolicy: [],
  };
  // A fingerprint is a partition key: its records are read in the order they were published.
  const lastStatus = new Map<string, AlertEvent['status']>();
  for (const a of distinct.values()) {
    if (a.status === 'firing' && lastStatus.get(a.fingerprint) === 'firing') audit.firedTwice.push(a.fingerprint);
    lastStatus.set(a.fingerprint, a.status);
    if (a.agentId !== null && !fleet.killed.has(a.agentId)) {
      audit.falseAlerts++;
      if (audit.falseAlerts <= LISTED)
        violations.push(`${a.agentId} was never killed and was alerted: ${a.alertName} ${a.status}`);
    }
  }
  for (const f of audit.firedTwice.slice(0, LISTED)) violations.push(`alert ${f} fired again without being resolved`);
  const expectedAttempts = Array.from({ length: fleet.maxAttempts }, (_, i) => i + 1).join(',');
  for (const agentId of fleet.killed) {
    const unreachable = [...distinct.values()].filter(
      (a) => a.agentId === agentId && a.alertName === 'AgentUnreachable' && a.status === 'firing',
    );
    if (unreachable.length === 1) audit.killedAlertedOnce++;
    else if (unreachable.length === 0) audit.killedNotAlerted.push(agentId);
    const attempts = [
      ...new Map(heals.filter((h) => h.agentId === agentId).map((h) => [h.commandId, h.attempt])).values(),
    ].sort((x, y) => x - y);
    if (attempts.join(',') !== expectedAttempts) {
      audit.healsNotPerPolicy.push(agentId);
      violations.push(`${agentId} was killed and got heal attempts [${attempts.join(',')}], not [${expectedAttempts}]`);
    }
  }
  for (const a of audit.killedNotAlerted)
    violations.push(`${a} was killed, its heals failed, and it was never alerted`);
  for (const a of fleet.agentIds.filter((id) => !fleet.killed.has(id)))
    if (heals.some((h) => h.agentId === a) && violations.length < 100)
      violations.push(`${a} was never killed and was healed`);
  return audit;
}

export interface BackupAudit {
  /** Distinct jobs with a verdict, and those verified. */
  jobs: number;
  verified: number;
  /** Verdicts `failed` or `timed_out` (a killed agent's jobs time out, as they should). */
  notVerified: number;
  /** Verdict records that repeated one already read (republished after a crash). */
  republished: number;
  /** Schedule slots times the live agents they select: each must have exactly one verified attempt. */
  expected: number;
  missing: string[];
  /** Jobs verified for two different attempts: run twice for one trigger. */
  ranTwice: string[];
}

/**
 * The backup-orchestrator's promise in the soak: every slot of the schedule becomes one job per
 * selected live agent, verified once (one attempt's archive); no job is verified for two attempts.
 * Job ids name the policy, agent, kind and slot: `<policy>/<agent>/<kind>@<slot as ISO time>`.
 */
export function auditBackups(
  verdicts: readonly BackupVerified[],
  expected: { policyId: string; kind: 'full' | 'incremental'; agents: readonly string[]; slots: readonly number[] },
  violations: string[],
): BackupAudit {
  const distinct = new Map<string, BackupVerified>();
  for (const v of verdicts) distinct.set(`${v.jobId}|${v.attempt}|${v.verdict}`, v);
  const verifiedAttempts = new Map<string, Set<number>>();
  for (const v of distinct.values())
    if (v.verdict === 'verified')
      verifiedAttempts.set(v.jobId, (verifiedAttempts.get(v.jobId) ?? new Set()).add(v.attempt));
  const audit: BackupAudit = {
    jobs: new Set(verdicts.map((v) => v.jobId)).size,
    verified: verifiedAttempts.size,
    notVerified: [...distinct.values()].filter((v) => v.verdict !== 'verified').length,
    republished: verdicts.length - distinct.size,
    expected: expected.agents.length * expected.slots.length,
    missing: [],
    ranTwice: [...verifiedAttempts].filter(([, attempts]) => attempts.size > 1).map(([jobId]) => jobId),
  };
  for (const slot of expected.slots)
    for (const agentId of expected.agents) {
      const jobId = `${expected.policyId}/${agentId}/${expected.kind}@${new Date(slot).toISOString()}`;
      if (!verifiedAttempts.has(jobId)) audit.missing.push(jobId);
    }
  for (const j of audit.missing.slice(0, LISTED)) violations.push(`backup ${j} was due and never verified`);
  if (audit.missing.length > LISTED) violations.push(`${audit.missing.length} due backups never verified in all`);
  for (const j of audit.ranTwice) violations.push(`backup ${j} was verified for more than one attempt: it ran twice`);
  return audit;
}

/** The instants in [from, to] at which a schedule firing every `everyMs` (aligned to the epoch, as cron's seconds field is) fires. */
export function slotsBetween(from: number, to: number, everyMs: number): number[] {
  const slots: number[] = [];
  for (let t = Math.ceil(from / everyMs) * everyMs; t <= to; t += everyMs) slots.push(t);
  return slots;
}

import type { ActionsAudit } from './acting-services';
import type { DetectionAudit } from './invariants';

export interface SoakReport {
  seed: number;
  infra: { kafkaBrokers: number; redisCluster: boolean };
  seconds: number;
  events: {
    sent: number;
    entities: number;
    accepted: number;
    refused: number;
    deletes: number;
    changelogDuplicates: number;
    missingVersions: number;
    redisWrong: number;
  };
  faults: Partial<Record<string, number>>;
  /** Instance starts that exited or stayed unready, and were replaced: each with its log file. */
  failedStarts: string[];
  recoverySeconds: Record<string, { p50: number; p99: number; max: number; n: number }>;
  heartbeat: DetectionAudit;
  /** The notifier's heals and alerts, the orchestrator's backups (absent if the run ended before their audit). */
  actions?: ActionsAudit;
  /** From the end of the load until state-sync had committed everything (absent if it never did). */
  drainSeconds?: number;
  /** From the audit of the actions until every other group had committed what the run wrote (absent if one never did). */
  groupsDrainSeconds?: number;
  readyAtEnd: boolean;
  violations: string[];
}

/** The report as a few readable lines. */
export function summarize(r: SoakReport): string {
  const rec = Object.entries(r.recoverySeconds)
    .map(([k, s]) => `${k} p50 ${s.p50} s p99 ${s.p99} s max ${s.max} s (${s.n})`)
    .join('; ');
  return [
    `soak seed ${r.seed} on ${r.infra.kafkaBrokers} broker(s), ${r.infra.redisCluster ? 'a Redis Cluster' : 'one Redis'}, ${r.seconds} s`,
    `state changes: ${r.events.sent} sent over ${r.events.entities} entities, ${r.events.accepted} accepted, ${r.events.refused} refused (duplicates and stale), ${r.events.deletes} deletes`,
    `changelog duplicates ${r.events.changelogDuplicates}, missing versions ${r.events.missingVersions}, Redis not at the newest version ${r.events.redisWrong}`,
    `faults: ${JSON.stringify(r.faults)}; recovery: ${rec || 'none measured'}`,
    `heartbeat: ${r.heartbeat.agents} agents, ${r.heartbeat.killedAgents} killed, ${r.heartbeat.killedDeclaredOnce} declared unreachable exactly once, false detections ${r.heartbeat.falseDetections}`,
    actionsLine(r.actions),
    `instance starts that failed and were retried: ${r.failedStarts.length}${r.failedStarts.map((f) => `\n  ${f}`).join('')}`,
    `state-sync drained ${r.drainSeconds === undefined ? 'NOT within the drain timeout' : `in ${r.drainSeconds} s after the load`}; heartbeat, notifier and orchestrator groups ${r.groupsDrainSeconds === undefined ? 'NOT drained' : `drained in ${r.groupsDrainSeconds} s after the audit`}; every instance ready at the end: ${r.readyAtEnd}`,
    r.violations.length === 0 ? 'no violations' : `VIOLATIONS:\n  ${r.violations.join('\n  ')}`,
  ].join('\n');
}

function actionsLine(a: ActionsAudit | undefined): string {
  if (!a) return 'notifier and backups: not audited (the run ended before)';
  const { alerts: n, backups: b } = a;
  return [
    `notifier: ${n.healCommands} heal commands, ${n.alerts} alert events (${n.republished} republished copies), ${n.killedAlertedOnce} killed agents alerted once, false alerts ${n.falseAlerts}, alerts fired twice ${n.firedTwice.length}`,
    `backups: ${b.expected} due, ${b.verified} jobs verified of ${b.jobs} with a verdict, ${b.notVerified} failed or timed out, never verified ${b.missing.length}, run twice ${b.ranTwice.length}, ${b.republished} republished verdicts`,
  ].join('\n');
}

import type { AgentRegistration, AlertEvent, AlertSeverity, BackupVerified } from '@vigil/events';
import { fingerprint, type Incident, type Step } from './incident';

/** The incident key of one policy's backups of one agent. */
export const backupKey = (agentId: string, policyId: string) => `backup/${agentId}/${policyId}`;

/**
 * BackupFailed{agent, policy}: fires on the orchestrator's verdict that a backup failed or timed out
 * (never on the agent's own report), resolves on the next verified one. Verdicts older than the last
 * applied (`lastSince` holds its verifiedAt) are replays. Pure, like IncidentRules.
 */
export function decideBackup(
  i: Incident,
  v: BackupVerified,
  severity: AlertSeverity,
  now: number,
  who?: AgentRegistration,
): Step {
  if (v.verifiedAt <= i.lastSince) return { incident: i, heals: [], alerts: [], noop: true };
  const next: Incident = { ...i, lastSince: v.verifiedAt };
  if (v.verdict !== 'verified' && i.phase !== 'alerting') {
    const labels = { alertname: 'BackupFailed', agent: v.agentId, policy: v.policyId };
    const alert: AlertEvent = {
      fingerprint: fingerprint(labels),
      alertName: 'BackupFailed',
      severity,
      status: 'firing',
      agentId: v.agentId,
      groupKey: `{}:{alertname="BackupFailed"}`,
      summary: `backup ${v.jobId} of ${v.agentId} ${v.verdict === 'timed_out' ? 'timed out' : 'failed'}: ${v.reason ?? 'no reason given'}`,
      labels: { ...(who?.labels ?? {}), ...(who ? { host: who.host, tier: String(who.priorityTier) } : {}), ...labels },
      startsAt: now,
      endsAt: null,
    };
    return { incident: { ...next, phase: 'alerting', alert, openedAt: now, attempts: [] }, heals: [], alerts: [alert] };
  }
  if (v.verdict === 'verified' && i.phase === 'alerting' && i.alert) {
    const resolved: AlertEvent = {
      ...i.alert,
      status: 'resolved',
      endsAt: now,
      summary: `${i.alert.summary}; resolved: backup ${v.jobId} verified`,
    };
    return { incident: { ...next, phase: 'closed', alert: undefined }, heals: [], alerts: [resolved] };
  }
  return { incident: next, heals: [], alerts: [] };
}

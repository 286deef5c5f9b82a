import { createHash } from 'node:crypto';
import type {
  AgentLivenessChanged,
  AgentRegistration,
  AlertEvent,
  BackupRequest,
  BackupVerified,
  HealCommand,
  HealResult,
} from '@vigil/events';
import { backoffDelay } from './backoff';
import { CAUSES, type Cause, type NotifierPolicy } from './policy';
import { DEPENDS_ON } from './routing/inhibition';

/**
 * One agent's trouble, from the liveness event that opened it to the one that closed it: heal
 * attempts first, an alert when they are exhausted (or no heal applies), resolved when the agent is
 * healthy again. Pure: every function takes the record and the time and returns the next record
 * and what to publish; the caller persists both in one write.
 *
 * Phases of an open incident:
 *   backing_up a pre-heal backup was asked for; its verdict, or `dueAt`, starts the first heal
 *   healing   a command is out; its result, or its timeout (`dueAt`), decides
 *   verifying the heal reported success; the agent has until `dueAt` to be healthy again
 *   waiting   backing off before the next attempt, issued at `dueAt`
 *   alerting  heals exhausted or not applicable; the alert fires until the cause clears
 * A closed record stays (phase `closed`) to remember the newest liveness event seen: a redelivered
 * older one must not reopen what a later one closed.
 */
export type Phase = 'backing_up' | 'healing' | 'verifying' | 'waiting' | 'alerting' | 'closed';

export interface HealAttempt {
  attempt: number;
  commandId: string;
  action: HealCommand['action'];
  issuedAt: number;
  outcome?: 'succeeded' | 'failed' | 'timed out' | 'not recovered' | 'cancelled';
  error?: string;
}

export interface Incident {
  /** What it is about: an agent id (liveness), or `rule/<rule>/<entity id>` (a state rule). */
  key: string;
  /** Bumped by every write; a write whose expected revision is not the stored one is retried. */
  rev: number;
  phase: Phase;
  /** `since` of the newest liveness event applied (broker time); older ones are replays. */
  lastSince: number;
  cause?: Cause;
  /** The liveness event id that opened it: heal command ids derive from it. */
  openedBy?: string;
  openedAt?: number;
  host?: string | null;
  dueAt?: number;
  attempts: HealAttempt[];
  alert?: AlertEvent;
  /** W3C traceparent of the event that opened it: its heals and alert continue that trace. */
  traceparent?: string;
}

/** What one step decided: the record to store and the records to publish with it. */
export interface Step {
  incident: Incident;
  heals: HealCommand[];
  alerts: AlertEvent[];
  /** Backups to ask the orchestrator for (pre-heal). */
  backups?: BackupRequest[];
  /** Unchanged: nothing to write. */
  noop?: boolean;
  /** Milliseconds from the unreachable event to the alert firing, when this step fired one. */
  escalatedAfterMs?: number;
}

export const newIncident = (key: string): Incident => ({
  key,
  rev: 0,
  phase: 'closed',
  lastSince: 0,
  attempts: [],
});

const isOpen = (i: Incident) => i.phase !== 'closed';
const noop = (incident: Incident): Step => ({ incident, heals: [], alerts: [], noop: true });

/** Alertmanager's model: an alert is its label set; the fingerprint is a hash of the sorted labels. */
export function fingerprint(labels: Record<string, string>): string {
  const canonical = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join('\u0000');
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

export class IncidentRules {
  constructor(
    private readonly policy: NotifierPolicy,
    /** [0, 1): injected so tests can pin the jitter. */
    private readonly random: () => number = Math.random,
  ) {}

  /** Delay before attempt `next` (2, 3, ...). */
  backoffMs(next: number): number {
    return backoffDelay(this.policy.heal.backoff, next - 1, this.random);
  }

  onLiveness(current: Incident, e: AgentLivenessChanged, now: number, who?: AgentRegistration): Step {
    // Events of one agent arrive in order (keyed by agent id); one not newer than the last applied
    // is a redelivery (a crash before the commit, or heartbeat republishing its outbox).
    if (e.since <= current.lastSince) return noop(current);
    const i: Incident = { ...current, lastSince: e.since, host: e.host ?? current.host ?? null };
    const cause = (CAUSES as readonly string[]).includes(e.to) ? (e.to as Cause) : undefined;
    if (cause) {
      if (isOpen(i)) {
        // Already handling this agent (the same cause again, or degraded turning unreachable): one
        // incident, no second heal, and the alert, if firing, is not duplicated.
        return { incident: i, heals: [], alerts: [] };
      }
      return this.open(i, cause, e, now, who);
    }
    if (e.to === 'healthy' || e.to === 'deregistered') return this.close(i, now, e.to);
    return { incident: i, heals: [], alerts: [] };
  }

  onHealResult(i: Incident, r: HealResult, now: number, who?: AgentRegistration): Step {
    const current = i.attempts.at(-1);
    // Only the answer to the command in flight counts: a late result of an earlier attempt, or of
    // a cancelled one, changes nothing.
    if (i.phase !== 'healing' || !current || current.commandId !== r.commandId) return noop(i);
    if (r.success) {
      return {
        incident: {
          ...i,
          phase: 'verifying',
          dueAt: now + this.policy.heal.verifyMs,
          attempts: [...i.attempts.slice(0, -1), { ...current, outcome: 'succeeded' }],
        },
        heals: [],
        alerts: [],
      };
    }
    return this.failed(i, now, 'failed', r.error ?? 'heal failed', who);
  }

  /** The incident's `dueAt` passed. */
  onDue(i: Incident, now: number, who?: AgentRegistration): Step {
    if (i.dueAt === undefined || now < i.dueAt) return noop(i);
    switch (i.phase) {
      case 'healing':
        return this.failed(i, now, 'timed out', `no result within ${this.policy.heal.timeoutMs} ms`, who);
      case 'verifying':
        return this.failed(i, now, 'not recovered', `not healthy ${this.policy.heal.verifyMs} ms after the heal`, who);
      case 'waiting':
        return this.issue(i, i.attempts.length + 1, now);
      case 'backing_up':
        // No verdict in time: an agent that needs healing is not left waiting on its backup.
        return this.issue(i, 1, now);
      default:
        return { incident: { ...i, dueAt: undefined }, heals: [], alerts: [] };
    }
  }

  /** The orchestrator's verdict on the pre-heal backup this incident asked for: heal now, whatever it says. */
  onBackupVerdict(i: Incident, v: BackupVerified, now: number): Step {
    if (i.phase !== 'backing_up' || !i.openedBy || !v.jobId.endsWith(`@pre_heal-${i.openedBy}`)) return noop(i);
    return this.issue(i, 1, now);
  }

  private open(i: Incident, cause: Cause, e: AgentLivenessChanged, now: number, who?: AgentRegistration): Step {
    const opened: Incident = {
      ...i,
      cause,
      openedBy: e.eventId || `${e.agentId}/${e.from}>${e.to}@${e.since}`,
      openedAt: now,
      attempts: [],
      alert: undefined,
    };
    if (!this.policy.heal.actions[cause]) return this.escalate(opened, now, `no heal applies to ${cause}`, who);
    const pre = this.policy.heal.preHealBackup;
    if (pre) {
      const request: BackupRequest = {
        requestId: opened.openedBy!,
        agentId: i.key,
        policyId: pre.policyId,
        kind: pre.kind,
        trigger: 'pre_heal',
        reason: `before healing: agent ${cause}`,
        requestedAt: now,
      };
      return {
        incident: { ...opened, phase: 'backing_up', dueAt: now + pre.waitMs },
        heals: [],
        alerts: [],
        backups: [request],
      };
    }
    return this.issue(opened, 1, now);
  }

  private issue(i: Incident, attempt: number, now: number): Step {
    const action = this.policy.heal.actions[i.cause!]!;
    const command: HealCommand = {
      // Deterministic: a command republished after a crash has the same id, so the supervisor
      // runs it once and its result matches.
      commandId: `${i.openedBy}#${attempt}`,
      agentId: i.key,
      action,
      attempt,
      reason: i.cause === 'unreachable' ? 'agent unreachable' : 'agent degraded',
      issuedAt: now,
      timeoutMs: this.policy.heal.timeoutMs,
    };
    return {
      incident: {
        ...i,
        phase: 'healing',
        dueAt: now + this.policy.heal.timeoutMs,
        attempts: [...i.attempts, { attempt, commandId: command.commandId, action, issuedAt: now }],
      },
      heals: [command],
      alerts: [],
    };
  }

  private failed(
    i: Incident,
    now: number,
    outcome: HealAttempt['outcome'],
    error: string,
    who?: AgentRegistration,
  ): Step {
    const attempts = [...i.attempts.slice(0, -1), { ...i.attempts.at(-1)!, outcome, error }];
    const next = attempts.length + 1;
    if (next > this.policy.heal.maxAttempts) {
      return this.escalate({ ...i, attempts }, now, `${attempts.length} heal attempts failed (last: ${error})`, who);
    }
    return { incident: { ...i, attempts, phase: 'waiting', dueAt: now + this.backoffMs(next) }, heals: [], alerts: [] };
  }

  /**
   * Fires the alert. Its identity (fingerprint) is alertname, agent and cause; what the agent registry
   * says about the agent (`who`) adds labels to route and read it by: its own labels (never
   * overriding those three), host, version, priority tier and the agents it depends on.
   */
  private escalate(i: Incident, now: number, why: string, who?: AgentRegistration): Step {
    const cause = i.cause!;
    const labels: Record<string, string> = {
      alertname: cause === 'unreachable' ? 'AgentUnreachable' : 'AgentDegraded',
      agent: i.key,
      cause,
    };
    const alert: AlertEvent = {
      fingerprint: fingerprint(labels),
      alertName: labels.alertname!,
      severity: this.policy.alerts.severity[cause],
      status: 'firing',
      agentId: i.key,
      groupKey: `{}:{alertname="${labels.alertname}"}`,
      summary: `${i.key}${i.host ? ` on ${i.host}` : ''} is ${cause}: ${why}`,
      labels: {
        ...(who?.labels ?? {}),
        ...(who ? { tier: String(who.priorityTier), version: who.agentVersion } : {}),
        // What it depends on: an inhibit rule with `dependency` mutes it while one of those is down.
        ...(who && who.dependencies.length > 0 ? { [DEPENDS_ON]: [...who.dependencies].sort().join(',') } : {}),
        ...((who?.host ?? i.host) ? { host: (who?.host ?? i.host)! } : {}),
        ...labels,
      },
      startsAt: now,
      endsAt: null,
    };
    return {
      incident: { ...i, phase: 'alerting', dueAt: undefined, alert },
      heals: [],
      alerts: [alert],
      escalatedAfterMs: i.openedAt === undefined ? undefined : now - i.openedAt,
    };
  }

  private close(i: Incident, now: number, to: 'healthy' | 'deregistered'): Step {
    if (!isOpen(i)) return { incident: i, heals: [], alerts: [] };
    const last = i.attempts.at(-1);
    const attempts =
      last && last.outcome === undefined
        ? [...i.attempts.slice(0, -1), { ...last, outcome: 'cancelled' as const }]
        : i.attempts;
    const resolved: AlertEvent[] = i.alert
      ? [{ ...i.alert, status: 'resolved', endsAt: now, summary: `${i.alert.summary}; resolved: agent ${to}` }]
      : [];
    return {
      incident: { ...i, phase: 'closed', dueAt: undefined, attempts, alert: undefined },
      heals: [],
      alerts: resolved,
    };
  }
}

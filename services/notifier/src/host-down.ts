import type { AlertEvent } from '@vigil/events';
import { fingerprint, type Incident, type Step } from './incident';
import type { NotifierPolicy } from './policy';

/** The incident key of a host (its HostDown alert). */
export const hostKey = (host: string) => `host/${host}`;

/** What the notifier knows about a host now: its registered agents, and how many are unreachable. */
export interface HostCounts {
  registered: number;
  unreachable: number;
}

/**
 * HostDown{host}: fires while at least `share` of a host's registered agents (and at least
 * `minAgents` of them) are unreachable, resolves when fewer are. Pure, like IncidentRules: the
 * caller reads the counts after recording the liveness change that prompted the decision, and
 * writes only on the revision it read, so concurrent changes of one host's agents converge on
 * the counts of the last of them.
 */
export function decideHostDown(
  i: Incident,
  host: string,
  counts: HostCounts,
  policy: NotifierPolicy['hostDown'],
  now: number,
): Step {
  const down = counts.registered >= policy.minAgents && counts.unreachable >= policy.share * counts.registered;
  const what = `${counts.unreachable} of ${counts.registered} agents unreachable`;
  if (down && i.phase !== 'alerting') {
    const labels = { alertname: 'HostDown', host };
    const alert: AlertEvent = {
      fingerprint: fingerprint(labels),
      alertName: 'HostDown',
      severity: policy.severity,
      status: 'firing',
      agentId: null,
      groupKey: `{}:{alertname="HostDown"}`,
      summary: `host ${host} is down: ${what}`,
      labels,
      startsAt: now,
      endsAt: null,
    };
    return {
      incident: { ...i, phase: 'alerting', alert, openedAt: now, host, attempts: [] },
      heals: [],
      alerts: [alert],
    };
  }
  if (!down && i.phase === 'alerting' && i.alert) {
    const resolved: AlertEvent = {
      ...i.alert,
      status: 'resolved',
      endsAt: now,
      summary: `${i.alert.summary}; resolved: ${what}`,
    };
    return { incident: { ...i, phase: 'closed', alert: undefined }, heals: [], alerts: [resolved] };
  }
  return { incident: i, heals: [], alerts: [], noop: true };
}

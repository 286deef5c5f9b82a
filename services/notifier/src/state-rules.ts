import type { AlertSeverity, StateChangeEvent } from '@vigil/events';
import { groupBy } from '@vigil/kafka';
import { fingerprint, type Incident, type Step } from './incident';

export type Scalar = string | number | boolean | null;

/**
 * A rule on entity state: while the newest version of an entity of `entityType` has `field` (a dot
 * path into its JSON payload) matching the condition, one alert fires; a later version that no
 * longer matches (or the entity's deletion) resolves it. Exactly one condition per rule.
 */
export interface StateRule {
  name: string;
  entityType: string;
  field: string;
  equals?: Scalar;
  notEquals?: Scalar;
  in?: Scalar[];
  greaterThan?: number;
  lessThan?: number;
  severity: AlertSeverity;
}

/** The incident key of a rule about an entity. */
export const ruleKey = (rule: StateRule, entityId: string) => `rule/${rule.name}/${entityId}`;

function fieldOf(payload: unknown, path: string): unknown {
  let v: unknown = payload;
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[part];
  }
  return v;
}

export function matches(rule: StateRule, payload: unknown): boolean {
  const v = fieldOf(payload, rule.field);
  if ('equals' in rule && rule.equals !== undefined) return v === rule.equals;
  if ('notEquals' in rule && rule.notEquals !== undefined) return v !== undefined && v !== rule.notEquals;
  if (rule.in) return rule.in.includes(v as Scalar);
  if (rule.greaterThan !== undefined) return typeof v === 'number' && v > rule.greaterThan;
  if (rule.lessThan !== undefined) return typeof v === 'number' && v < rule.lessThan;
  return false;
}

function parsePayload(e: StateChangeEvent): unknown {
  if (e.eventType === 'deleted' || e.payload === null) return undefined;
  try {
    return JSON.parse(e.payload) as unknown;
  } catch {
    // Not JSON: no field of it matches anything.
    return undefined;
  }
}

/**
 * Applies accepted state changes (from the changelog) to rule incidents. Pure, like IncidentRules.
 * A rule incident's `lastSince` holds the entity version last applied: the changelog carries each
 * version once and in order, so an older or equal one is a redelivery.
 */
export class StateRules {
  private readonly byType: Map<string, StateRule[]>;

  constructor(rules: StateRule[]) {
    this.byType = groupBy(rules, (r) => r.entityType);
  }

  forType(entityType: string): StateRule[] {
    return this.byType.get(entityType) ?? [];
  }

  /** Every rule (a tombstone does not say its entity's type). */
  all(): StateRule[] {
    return [...this.byType.values()].flat();
  }

  /** The entity was deleted at `version` (a changelog tombstone): what fired about it resolves. */
  onDeleted(current: Incident, version: number, now: number): Step {
    if (version <= current.lastSince) return { incident: current, heals: [], alerts: [], noop: true };
    const i: Incident = { ...current, lastSince: version };
    if (i.phase !== 'alerting' || !i.alert) return { incident: i, heals: [], alerts: [], noop: current.rev === 0 };
    const resolved = {
      ...i.alert,
      status: 'resolved' as const,
      endsAt: now,
      summary: `${i.alert.summary}; resolved: deleted at version ${version}`,
    };
    return { incident: { ...i, phase: 'closed', alert: undefined }, heals: [], alerts: [resolved] };
  }

  onChange(current: Incident, rule: StateRule, e: StateChangeEvent, now: number): Step {
    if (e.version <= current.lastSince) return { incident: current, heals: [], alerts: [], noop: true };
    const i: Incident = { ...current, lastSince: e.version };
    const firing = matches(rule, parsePayload(e));
    if (firing && i.phase !== 'alerting') {
      const labels = { alertname: rule.name, entity: e.entityId, entityType: e.entityType };
      const alert = {
        fingerprint: fingerprint(labels),
        alertName: rule.name,
        severity: rule.severity,
        status: 'firing' as const,
        agentId: e.agentId,
        groupKey: `{}:{alertname="${rule.name}"}`,
        summary: `${e.entityType} ${e.entityId} (agent ${e.agentId}) matches ${rule.name}: ${rule.field} at version ${e.version}`,
        labels: { ...labels, agent: e.agentId },
        startsAt: now,
        endsAt: null,
      };
      return { incident: { ...i, phase: 'alerting', alert, openedAt: now, attempts: [] }, heals: [], alerts: [alert] };
    }
    if (!firing && i.phase === 'alerting' && i.alert) {
      const resolved = {
        ...i.alert,
        status: 'resolved' as const,
        endsAt: now,
        summary: `${i.alert.summary}; resolved at version ${e.version}`,
      };
      return { incident: { ...i, phase: 'closed', alert: undefined }, heals: [], alerts: [resolved] };
    }
    return { incident: i, heals: [], alerts: [] };
  }
}

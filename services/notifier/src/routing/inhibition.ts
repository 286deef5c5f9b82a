import type { AlertEvent } from '@vigil/events';
import { matchesAll, parseMatcher, type Matcher } from './matchers';

/** An inhibit rule as the policy file writes it (Alertmanager's names), plus Vigil's `dependency`. */
export interface InhibitRuleInput {
  source_matchers: string[];
  target_matchers: string[];
  equal?: string[];
  /**
   * Vigil's own: the source is about an agent the target's agent declared as a dependency (the
   * source's `agent` label is one of the target's `depends_on`), instead of or besides `equal`.
   */
  dependency?: boolean;
}

export interface InhibitRule {
  index: number;
  source: Matcher[];
  target: Matcher[];
  equal: string[];
  dependency: boolean;
}

/** Agents an alert's agent depends on, as the notifier labels it (from the agent registry). */
export const DEPENDS_ON = 'depends_on';

/**
 * While HostDown fires for a host, its agents' own alerts are consequences; likewise an agent whose
 * dependency is unreachable. Used when the policy sets no inhibit rules.
 */
export const DEFAULT_INHIBIT_RULES: InhibitRuleInput[] = [
  {
    source_matchers: ['alertname="HostDown"'],
    target_matchers: ['alertname=~"AgentUnreachable|AgentDegraded"'],
    equal: ['host'],
  },
  {
    source_matchers: ['alertname="AgentUnreachable"'],
    target_matchers: ['alertname=~"AgentUnreachable|AgentDegraded"'],
    dependency: true,
  },
];

export function compileInhibitRules(inputs: InhibitRuleInput[]): InhibitRule[] {
  return inputs.map((r, index) => {
    const parse = (texts: string[], side: string) =>
      texts.map((t, i) => {
        const m = parseMatcher(t);
        if (typeof m === 'string') throw new Error(`inhibit_rules.${index}.${side}.${i}: ${m}`);
        return m;
      });
    return {
      index,
      source: parse(r.source_matchers, 'source_matchers'),
      target: parse(r.target_matchers, 'target_matchers'),
      equal: [...(r.equal ?? [])].sort(),
      dependency: r.dependency ?? false,
    };
  });
}

/**
 * Inhibition is kept as an index of firing source alerts: one set of fingerprints per rule and
 * `equal` values (or per depended-on agent). A target is muted while a set it looks up holds another
 * alert than itself. These are the set names, relative to the index's key prefix.
 */
const equalSlot = (rule: InhibitRule, labels: Record<string, string>) =>
  `${rule.index}|${rule.equal.map((n) => `${n}=${labels[n] ?? ''}`).join(',')}`;
const agentSlot = (rule: InhibitRule, agent: string) => `${rule.index}|agent=${agent}`;

/** The sets a firing alert is a member of (it leaves them when it resolves). */
export function sourceSlots(rules: InhibitRule[], alert: AlertEvent): string[] {
  return rules.flatMap((r) => {
    if (!matchesAll(r.source, alert.labels)) return [];
    if (r.dependency) return alert.labels.agent ? [agentSlot(r, alert.labels.agent)] : [];
    return [equalSlot(r, alert.labels)];
  });
}

/** The sets that mute the alert when another alert is in one of them. */
export function targetSlots(rules: InhibitRule[], alert: AlertEvent): string[] {
  return rules.flatMap((r) => {
    if (!matchesAll(r.target, alert.labels)) return [];
    if (r.dependency) {
      const deps = (alert.labels[DEPENDS_ON] ?? '').split(',').filter((d) => d && d !== alert.labels.agent);
      return deps.map((d) => agentSlot(r, d));
    }
    return [equalSlot(r, alert.labels)];
  });
}

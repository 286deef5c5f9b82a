import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AlertEvent } from '@vigil/events';
import { compileInhibitRules, DEFAULT_INHIBIT_RULES, sourceSlots, targetSlots } from './inhibition';
import { silencedBy, silenceRequest, type Silence } from './silences';
import { parseMatcher, type Matcher } from './matchers';

const alert = (labels: Record<string, string>): AlertEvent => ({
  fingerprint: JSON.stringify(labels),
  alertName: labels.alertname!,
  severity: 'critical',
  status: 'firing',
  agentId: labels.agent ?? null,
  groupKey: '',
  summary: '',
  labels,
  startsAt: 0,
  endsAt: null,
});
const rules = compileInhibitRules(DEFAULT_INHIBIT_RULES);
const overlap = (a: string[], b: string[]) => a.some((s) => b.includes(s));

describe('inhibition (source, target, equal; and dependencies)', () => {
  const hostDown = alert({ alertname: 'HostDown', host: 'h1' });

  it('mutes an agent alert on the host HostDown fires for, not on another host', () => {
    const onH1 = alert({ alertname: 'AgentUnreachable', agent: 'a1', host: 'h1' });
    const onH2 = alert({ alertname: 'AgentUnreachable', agent: 'a2', host: 'h2' });
    assert.ok(overlap(sourceSlots(rules, hostDown), targetSlots(rules, onH1)));
    assert.ok(!overlap(sourceSlots(rules, hostDown), targetSlots(rules, onH2)));
    assert.deepEqual(targetSlots(rules, hostDown), [], 'HostDown itself is no target');
  });

  it('mutes an agent whose declared dependency is unreachable (a consequence, not a root cause)', () => {
    const db = alert({ alertname: 'AgentUnreachable', agent: 'db-1', host: 'h9' });
    const web = alert({ alertname: 'AgentUnreachable', agent: 'web-1', host: 'h3', depends_on: 'cache-1,db-1' });
    const other = alert({ alertname: 'AgentUnreachable', agent: 'web-2', host: 'h3', depends_on: 'cache-1' });
    assert.ok(overlap(sourceSlots(rules, db), targetSlots(rules, web)));
    assert.ok(!overlap(sourceSlots(rules, db), targetSlots(rules, other)));
  });

  it('refuses a rule with a bad matcher, naming it', () => {
    assert.throws(
      () => compileInhibitRules([{ source_matchers: ['x'], target_matchers: ['y="1"'] }]),
      /inhibit_rules\.0\.source_matchers\.0/,
    );
  });
});

describe('silences', () => {
  const m = (t: string) => parseMatcher(t) as Matcher;
  const s: Silence = {
    id: 's1',
    matchers: [m('host="h1"')],
    createdBy: 'ops',
    comment: 'maintenance',
    startsAt: 1000,
    endsAt: 5000,
    updatedAt: 1000,
  };
  it('mute matching alerts while active only', () => {
    assert.deepEqual(silencedBy([s], { host: 'h1' }, 2000), ['s1']);
    assert.deepEqual(silencedBy([s], { host: 'h2' }, 2000), []);
    assert.deepEqual(silencedBy([s], { host: 'h1' }, 500), [], 'pending');
    assert.deepEqual(silencedBy([s], { host: 'h1' }, 5000), [], 'expired');
  });
  it('need a matcher, a creator and a comment, and refuse to match everything', () => {
    assert.ok(
      silenceRequest.safeParse({ matchers: ['host="h1"'], createdBy: 'a', comment: 'b', duration: '1h' }).success,
    );
    assert.ok(
      silenceRequest.safeParse({
        matchers: [{ name: 'host', value: 'h.*', isRegex: true }],
        createdBy: 'a',
        comment: 'b',
        endsAt: '2030-01-01T00:00:00Z',
      }).success,
    );
    assert.ok(!silenceRequest.safeParse({ matchers: [], createdBy: 'a', comment: 'b', duration: '1h' }).success);
    assert.ok(!silenceRequest.safeParse({ matchers: ['host="h1"'], comment: 'b', duration: '1h' }).success);
    assert.ok(
      !silenceRequest.safeParse({ matchers: ['host=~".*"'], createdBy: 'a', comment: 'b', duration: '1h' }).success,
    );
  });
});

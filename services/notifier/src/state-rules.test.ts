import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { StateChangeEvent } from '@vigil/events';
import { newIncident, type Incident } from './incident';
import { policySchema } from './policy';
import { matches, ruleKey, StateRules, type StateRule } from './state-rules';

const rule = (r: Partial<StateRule>): StateRule => ({
  name: 'Failed',
  entityType: 'service',
  field: 'status',
  severity: 'critical',
  ...r,
});
const change = (
  version: number,
  payload: unknown,
  eventType: StateChangeEvent['eventType'] = 'updated',
): StateChangeEvent => ({
  eventId: `e-${version}`,
  entityId: 'svc-1',
  entityType: 'service',
  agentId: 'agent-1',
  eventType,
  version,
  timestamp: 0,
  payload: payload === undefined ? null : JSON.stringify(payload),
  checksum: null,
});

describe('state rules: one alert while the newest version matches', () => {
  const failed = rule({ equals: 'failed' });
  const rules = new StateRules([failed]);
  const apply = (i: Incident, e: StateChangeEvent, now = 0) => rules.onChange(i, failed, e, now);

  it('fires once when a version matches, stays quiet while later ones still match, resolves once when one does not', () => {
    let i = newIncident(ruleKey(failed, 'svc-1'));
    const fired = apply(i, change(1, { status: 'failed' }), 100);
    assert.equal(fired.alerts.length, 1);
    assert.equal(fired.alerts[0]!.status, 'firing');
    assert.deepEqual(fired.alerts[0]!.labels, {
      alertname: 'Failed',
      entity: 'svc-1',
      entityType: 'service',
      agent: 'agent-1',
    });
    i = fired.incident;
    const again = apply(i, change(2, { status: 'failed', retries: 3 }));
    assert.deepEqual(again.alerts, []);
    i = again.incident;
    const ok = apply(i, change(3, { status: 'ok' }), 500);
    assert.equal(ok.alerts[0]!.status, 'resolved');
    assert.equal(ok.alerts[0]!.fingerprint, fired.alerts[0]!.fingerprint);
    assert.equal(ok.alerts[0]!.endsAt, 500);
    assert.deepEqual(apply(ok.incident, change(4, { status: 'ok' })).alerts, []);
  });

  it('ignores a version not newer than the last applied (a redelivery)', () => {
    const fired = apply(newIncident('k'), change(5, { status: 'failed' }));
    assert.equal(apply(fired.incident, change(5, { status: 'ok' })).noop, true);
    assert.equal(apply(fired.incident, change(4, { status: 'ok' })).noop, true);
  });

  it('resolves when the entity is deleted', () => {
    const fired = apply(newIncident('k'), change(1, { status: 'failed' }));
    assert.equal(apply(fired.incident, change(2, undefined, 'deleted')).alerts[0]!.status, 'resolved');
  });

  it('resolves on a changelog tombstone (no body, only the version), and ignores an older one', () => {
    const fired = apply(newIncident('k'), change(3, { status: 'failed' }));
    assert.equal(rules.onDeleted(fired.incident, 2, 0).noop, true);
    const deleted = rules.onDeleted(fired.incident, 4, 700);
    assert.equal(deleted.alerts[0]!.status, 'resolved');
    assert.equal(deleted.incident.phase, 'closed');
    assert.equal(rules.onDeleted(newIncident('other'), 9, 0).noop, true, 'nothing to resolve, nothing written');
  });

  it('evaluates each kind of condition on a dot path, and nothing on a payload that is not JSON', () => {
    const payload = { status: 'failed', disk: { freePct: 4 }, up: false };
    assert.equal(matches(rule({ field: 'disk.freePct', lessThan: 5 }), payload), true);
    assert.equal(matches(rule({ field: 'disk.freePct', greaterThan: 5 }), payload), false);
    assert.equal(matches(rule({ in: ['failed', 'crashed'] }), payload), true);
    assert.equal(matches(rule({ notEquals: 'ok' }), payload), true);
    assert.equal(
      matches(rule({ field: 'missing', notEquals: 'ok' }), payload),
      false,
      'an absent field matches no condition',
    );
    assert.equal(matches(rule({ field: 'up', equals: false }), payload), true);
    assert.equal(matches(rule({ field: 'disk.freePct.x', lessThan: 5 }), payload), false);
    const e = { ...change(1, undefined), payload: '{not json' };
    assert.deepEqual(apply(newIncident('k'), e).alerts, []);
  });

  it('only rules of the entity type apply', () => {
    assert.deepEqual(rules.forType('service'), [failed]);
    assert.deepEqual(rules.forType('disk'), []);
  });

  it('refuses a rule without exactly one condition, or two rules of one name', () => {
    assert.equal(policySchema.safeParse({ stateRules: [{ name: 'A', entityType: 't', field: 'f' }] }).success, false);
    assert.equal(
      policySchema.safeParse({ stateRules: [{ name: 'A', entityType: 't', field: 'f', equals: 1, lessThan: 2 }] })
        .success,
      false,
    );
    const one = { name: 'A', entityType: 't', field: 'f', equals: 'x' };
    assert.equal(policySchema.safeParse({ stateRules: [one, one] }).success, false);
    assert.equal(policySchema.safeParse({ stateRules: [one] }).success, true);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AlertEvent } from '@vigil/events';
import { flushGroup, isNewer, newGroupMeta, type GroupMeta } from './alert-groups';
import { compileRoutes } from './route-tree';

const route = compileRoutes({ group_wait: '30s', group_interval: '5m', repeat_interval: '1h' }, ['ops']);
const alert = (fp: string, status: AlertEvent['status'] = 'firing', startsAt = 1000): AlertEvent => ({
  fingerprint: fp,
  alertName: 'AgentUnreachable',
  severity: 'critical',
  status,
  agentId: fp,
  groupKey: '',
  summary: fp,
  labels: { alertname: 'AgentUnreachable', agent: fp, host: 'h1' },
  startsAt,
  endsAt: status === 'resolved' ? startsAt + 1 : null,
});
const none = new Set<string>();
const fps = (as: AlertEvent[] | undefined) => (as ?? []).map((a) => a.fingerprint);

/** A group driven tick by tick on a fake clock: each flush's outcome lands, as the store does it. */
function group() {
  let meta: GroupMeta = newGroupMeta('root/ops:{host="h1"}', route, 'ops', { host: 'h1' }, 0);
  const alerts = new Map<string, AlertEvent>();
  return {
    put: (...as: AlertEvent[]) => as.forEach((a) => alerts.set(a.fingerprint, a)),
    tick(now: number, muted: ReadonlySet<string> = none, kind: 'webhook' | 'alertmanager' = 'webhook') {
      const f = flushGroup(meta, [...alerts.values()], muted, route, kind, now);
      meta = f.meta;
      for (const r of f.remove) alerts.delete(r.fingerprint);
      return f;
    },
    get size() {
      return alerts.size;
    },
  };
}

describe('a group tick (Alertmanager aggregation and dedup)', () => {
  it('sends every firing alert of the group together on the first tick', () => {
    const g = group();
    g.put(alert('a'), alert('b'), alert('c'));
    const f = g.tick(30_000);
    assert.equal(f.send?.reason, 'first');
    assert.deepEqual(fps(f.send?.firing), ['a', 'b', 'c']);
    assert.equal(f.nextAt, 30_000 + 300_000);
  });

  it('sends nothing at a tick where nothing changed, then repeats the same alerts after repeat_interval', () => {
    const g = group();
    g.put(alert('a'));
    g.tick(30_000);
    assert.equal(g.tick(330_000).send, undefined);
    const repeat = g.tick(30_000 + 3_600_000);
    assert.equal(repeat.send?.reason, 'repeat');
    assert.deepEqual(fps(repeat.send?.firing), ['a']);
  });

  it('sends a change at the next tick: a new alert, and a resolution of one it notified', () => {
    const g = group();
    g.put(alert('a'), alert('b'));
    g.tick(30_000);
    g.put(alert('c'), alert('a', 'resolved'));
    const f = g.tick(330_000);
    assert.equal(f.send?.reason, 'changed');
    assert.deepEqual(fps(f.send?.firing), ['b', 'c']);
    assert.deepEqual(fps(f.send?.resolved), ['a']);
    assert.equal(g.size, 2, 'a resolved alert leaves the group once a tick has seen it');
  });

  it('never notifies a muted alert, nor the resolution of an alert it never notified', () => {
    const g = group();
    g.put(alert('a'), alert('b'));
    const f = g.tick(30_000, new Set(['b']));
    assert.deepEqual(fps(f.send?.firing), ['a']);
    g.put(alert('b', 'resolved'));
    assert.equal(g.tick(330_000, new Set()).send, undefined, 'b resolved without ever having been notified');
  });

  it('notifies an alert whose mute ended (a silence expired) at the next tick', () => {
    const g = group();
    g.put(alert('a'));
    assert.equal(g.tick(30_000, new Set(['a'])).send, undefined);
    const f = g.tick(330_000, none);
    assert.deepEqual(fps(f.send?.firing), ['a']);
  });

  it('ends a group when its last alert resolved and was seen', () => {
    const g = group();
    g.put(alert('a'));
    g.tick(30_000);
    g.put(alert('a', 'resolved'));
    const f = g.tick(330_000);
    assert.equal(f.send?.reason, 'changed');
    assert.equal(g.size, 0);
  });

  it('pushes every tick to an alertmanager receiver (it resolves what is not pushed again)', () => {
    const g = group();
    g.put(alert('a'));
    assert.equal(g.tick(30_000, none, 'alertmanager').send?.reason, 'push');
    assert.equal(g.tick(330_000, none, 'alertmanager').send?.reason, 'push');
  });

  it('keeps the newest state of an alert: a later start, or the resolution of the same start', () => {
    assert.ok(isNewer(alert('a', 'resolved', 1000), alert('a', 'firing', 1000)));
    assert.ok(!isNewer(alert('a', 'firing', 1000), alert('a', 'resolved', 1000)));
    assert.ok(isNewer(alert('a', 'firing', 2000), alert('a', 'resolved', 1000)));
    assert.ok(!isNewer(alert('a', 'resolved', 500), alert('a', 'firing', 1000)));
  });
});

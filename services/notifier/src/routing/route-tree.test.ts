import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDuration } from './duration';
import { matchesAll, parseMatcher, type Matcher } from './matchers';
import { compileRoutes, groupKeyOf, groupLabelsOf, RouteError, routesFor } from './route-tree';

const m = (t: string) => parseMatcher(t) as Matcher;

describe('durations, as Alertmanager writes them', () => {
  it('reads units and sums of them, and plain milliseconds', () => {
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration(1500), 1500);
  });
  it('refuses what is not one', () => {
    assert.equal(parseDuration('soon'), undefined);
    assert.equal(parseDuration('5 minutes'), undefined);
    assert.equal(parseDuration(-1), undefined);
  });
});

describe('matchers', () => {
  it('match equal, not equal and anchored regexes; a missing label is the empty string', () => {
    const labels = { alertname: 'AgentUnreachable', host: 'db-1' };
    assert.ok(matchesAll([m('alertname="AgentUnreachable"'), m('host=~"db-.*"')], labels));
    assert.ok(!matchesAll([m('host=~"db"')], labels), 'anchored: db does not match db-1');
    assert.ok(matchesAll([m('team=""')], labels));
    assert.ok(matchesAll([m('host!~"web-.*"'), m('alertname!=HostDown')], labels));
  });
  it('say why a text is not a matcher', () => {
    assert.match(parseMatcher('host') as string, /is not a matcher/);
    assert.match(parseMatcher('host=~"("') as string, /bad regex/);
  });
});

describe('the routing tree', () => {
  const tree = compileRoutes(
    {
      receiver: 'ops',
      group_wait: '10s',
      routes: [
        { matchers: ['severity="critical"'], receiver: 'pager', group_by: ['alertname'], continue: true },
        { matchers: ['team="db"'], receiver: 'db', routes: [{ matchers: ['alertname="HostDown"'], group_wait: '1s' }] },
      ],
    },
    ['ops', 'pager', 'db'],
  );

  it('sends an alert to the first matching child, and on past one that says continue', () => {
    const ids = (labels: Record<string, string>) => routesFor(tree, labels).map((r) => `${r.id}>${r.receivers.join()}`);
    assert.deepEqual(ids({ severity: 'critical', team: 'db', alertname: 'X' }), ['root.0>pager', 'root.1>db']);
    assert.deepEqual(ids({ severity: 'warning', team: 'web' }), ['root>ops'], 'no child matches: the root takes it');
    assert.deepEqual(ids({ team: 'db', alertname: 'HostDown' }), ['root.1.0>db'], 'the deepest match');
  });

  it('lets children inherit what they do not set, and defaults as Alertmanager (grouped by host)', () => {
    const hostDown = tree.routes[1]!.routes[0]!;
    assert.deepEqual(hostDown.groupBy, ['host']);
    assert.equal(hostDown.groupWaitMs, 1000);
    assert.equal(tree.routes[1]!.groupWaitMs, 10_000);
    assert.equal(hostDown.groupIntervalMs, 300_000);
    assert.equal(hostDown.repeatIntervalMs, 4 * 3_600_000);
  });

  it('without a receiver at the root, sends to every receiver', () => {
    assert.deepEqual(compileRoutes({}, ['a', 'b']).receivers, ['a', 'b']);
  });

  it('names a group by route, receiver and the grouping labels it has', () => {
    const r = routesFor(tree, { severity: 'warning', host: 'h1', agent: 'a1' })[0]!;
    const labels = groupLabelsOf(r, { severity: 'warning', host: 'h1', agent: 'a1' });
    assert.deepEqual(labels, { host: 'h1' });
    assert.equal(groupKeyOf(r, 'ops', labels), 'root/ops:{host="h1"}');
    const all = compileRoutes({ group_by: ['...'] }, ['ops']);
    assert.deepEqual(groupLabelsOf(all, { b: '2', a: '1' }), { a: '1', b: '2' });
  });

  it('refuses a receiver that does not exist and a bad duration, saying where', () => {
    assert.throws(
      () => compileRoutes({ routes: [{ receiver: 'nobody' }] }, ['ops']),
      (e: unknown) =>
        e instanceof RouteError &&
        e.path.join('.') === 'routes.0.receiver' &&
        /no receiver named "nobody"/.test(e.message),
    );
    assert.throws(() => compileRoutes({ group_wait: 'later' }, ['ops']), /not a duration/);
  });
});

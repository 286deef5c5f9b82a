import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideHostDown } from './host-down';
import { newIncident } from './incident';
import { policySchema } from './policy';

const policy = policySchema.parse({}).hostDown;

describe('HostDown', () => {
  it('fires when at least 80% of the host registered agents are unreachable, once', () => {
    const below = decideHostDown(newIncident('host/h1'), 'h1', { registered: 50, unreachable: 39 }, policy, 1);
    assert.equal(below.noop, true);
    const fired = decideHostDown(newIncident('host/h1'), 'h1', { registered: 50, unreachable: 40 }, policy, 2);
    assert.equal(fired.alerts[0]?.alertName, 'HostDown');
    assert.deepEqual(fired.alerts[0]?.labels, { alertname: 'HostDown', host: 'h1' });
    assert.match(fired.alerts[0]!.summary, /40 of 50 agents unreachable/);
    const again = decideHostDown(fired.incident, 'h1', { registered: 50, unreachable: 50 }, policy, 3);
    assert.equal(again.noop, true);
  });

  it('resolves when fewer are unreachable, with the start it fired with', () => {
    const fired = decideHostDown(newIncident('host/h1'), 'h1', { registered: 5, unreachable: 5 }, policy, 2);
    const back = decideHostDown(fired.incident, 'h1', { registered: 5, unreachable: 3 }, policy, 9);
    assert.equal(back.alerts[0]?.status, 'resolved');
    assert.equal(back.alerts[0]?.startsAt, 2);
    assert.equal(back.alerts[0]?.endsAt, 9);
    assert.equal(back.incident.phase, 'closed');
  });

  it('never fires for a host with fewer agents than minAgents: the agent alert says it all', () => {
    assert.equal(decideHostDown(newIncident('host/h1'), 'h1', { registered: 1, unreachable: 1 }, policy, 1).noop, true);
  });
});

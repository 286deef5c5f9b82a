import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AgentLivenessChanged } from '@vigil/events';
import { auditDetections } from './invariants';

const to = (agentId: string, state: AgentLivenessChanged['to']) => ({ agentId, to: state }) as AgentLivenessChanged;

describe("the soak's detection audit", () => {
  it('counts a killed agent declared once as right, twice or never as wrong, and a live one declared as false', () => {
    const violations: string[] = [];
    const audit = auditDetections(
      [
        to('a-01', 'healthy'),
        to('a-01', 'unreachable'),
        to('a-02', 'unreachable'),
        to('a-02', 'unreachable'),
        to('a-04', 'unreachable'),
      ],
      { agentIds: ['a-01', 'a-02', 'a-03', 'a-04'], killed: new Set(['a-01', 'a-02', 'a-03']) },
      violations,
    );
    assert.deepEqual(audit, {
      agents: 4,
      killedAgents: 3,
      falseDetections: 1,
      killedDeclaredOnce: 1,
      killedMissed: ['a-03'],
      killedTwice: ['a-02'],
    });
    assert.equal(violations.length, 3);
  });

  it('refuses a killed agent that is not one of the fleet (a name the audit would never look at)', () => {
    const violations: string[] = [];
    auditDetections([], { agentIds: ['a-01'], killed: new Set(['a-1']) }, violations);
    assert.deepEqual(violations, ["a-1 was killed but is not one of the fleet's agents"]);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AclOperationTypes, ResourcePatternTypes } from 'kafkajs';
import { aclEntries, rightsOf } from './acls';

describe('the rights each principal gets, from the catalogue', () => {
  it('gives state-sync what it reads and writes, its groups, and DESCRIBE on the Vigil topics; nothing else', () => {
    const rights = rightsOf('state-sync', 'state-sync').map((r) => `${r.operation} ${r.resource} ${r.name}`);
    assert.ok(rights.includes('READ topic vigil.agent.state-changes'));
    assert.ok(rights.includes('WRITE topic vigil.state.changelog'));
    assert.ok(rights.includes('WRITE topic vigil.agent.state-changes.dlq'), 'a reader writes its dead letters');
    assert.ok(rights.includes('READ group state-sync*'));
    assert.ok(rights.includes('WRITE transactional-id state-sync*'), 'it writes the changelog in transactions');
    assert.ok(rights.includes('DESCRIBE topic vigil.*'));
    assert.ok(!rights.some((r) => r.includes('vigil.agent.heartbeats ')), 'not the heartbeats');
    assert.ok(!rights.some((r) => /heal|alert|backup/.test(r)));
  });

  it('gives transactional ids only to writers of a transactional topic', () => {
    for (const party of ['heartbeat', 'notifier', 'backup-orchestrator', 'agent'] as const)
      assert.ok(!rightsOf(party, party).some((r) => r.resource === 'transactional-id'), party);
  });

  it('lets an agent write its heartbeats and state changes only', () => {
    const rights = rightsOf('agent', 'vigil-supervisor-').filter(
      (r) => r.operation !== 'DESCRIBE' && r.resource === 'topic',
    );
    assert.deepEqual(
      rights.map((r) => `${r.operation} ${r.name}`),
      ['WRITE vigil.agent.heartbeats', 'WRITE vigil.agent.state-changes'],
    );
  });

  it('writes a trailing * as a PREFIXED pattern and a name as LITERAL, for User:<name> from any host', () => {
    const [prefixed, literal] = aclEntries('notifier', [
      { operation: 'READ', resource: 'group', name: 'notifier*' },
      { operation: 'WRITE', resource: 'topic', name: 'vigil.alerts' },
    ]);
    assert.equal(prefixed!.resourceName, 'notifier');
    assert.equal(prefixed!.resourcePatternType, ResourcePatternTypes.PREFIXED);
    assert.equal(literal!.resourcePatternType, ResourcePatternTypes.LITERAL);
    assert.equal(literal!.operation, AclOperationTypes.WRITE);
    assert.equal(literal!.principal, 'User:notifier');
    assert.equal(literal!.host, '*');
  });
});

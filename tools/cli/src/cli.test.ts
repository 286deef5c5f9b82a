import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Topics } from '@vigil/events';
import { DlqRefused, replayAllowed, sourceTopic } from './commands/dlq';
import { ConfigError, endpointsFromEnv } from './endpoints';
import { feedLine, traceIdOf } from './event-feed';
import { renderFrame, worstFirst } from './fleet-frame';
import { ago } from './render';
import type { FleetAgent } from './views';

const agent = (agentId: string, state: string, since: string): FleetAgent => ({
  agentId,
  partition: 0,
  host: 'h1',
  state,
  since,
  lastHeartbeat: since,
  agentVersion: '1',
  priorityTier: 1,
  labels: {},
  dependencies: [],
  failedChecks: [],
});

describe('vigil CLI: what it shows and what it refuses', () => {
  it('endpoints come from the environment, with local defaults, and a bad URL names its variable', () => {
    assert.equal(endpointsFromEnv({}).heartbeat, 'http://127.0.0.1:3001');
    assert.equal(endpointsFromEnv({ VIGIL_NOTIFIER_URL: 'http://n:9/' }).notifier, 'http://n:9');
    assert.throws(
      () => endpointsFromEnv({ VIGIL_BACKUP_URL: 'ftp://x' }),
      (e: Error) => e instanceof ConfigError && /VIGIL_BACKUP_URL/.test(e.message),
    );
  });

  it('the live table puts the worst states first, the newest change first within a state', () => {
    const rows = worstFirst(
      [
        agent('a', 'healthy', '2026-01-01T00:00:05Z'),
        agent('b', 'unreachable', '2026-01-01T00:00:01Z'),
        agent('c', 'suspect', '2026-01-01T00:00:02Z'),
        agent('d', 'unreachable', '2026-01-01T00:00:03Z'),
      ],
      3,
    );
    assert.deepEqual(
      rows.map((r) => r.agentId),
      ['d', 'b', 'c'],
    );
  });

  it('a frame counts the agents listed by state and shows open alerts, last backups and the feed', () => {
    const now = Date.parse('2026-01-01T00:01:00Z');
    const frame = renderFrame(
      {
        fleet: {
          total: 99,
          counts: {},
          matching: 2,
          agents: [agent('a', 'healthy', '2026-01-01T00:00:00Z'), agent('b', 'unreachable', '2026-01-01T00:00:30Z')],
        },
        alerts: [
          {
            fingerprint: 'f',
            alertName: 'AgentUnreachable',
            agentId: 'b',
            severity: 'critical',
            summary: '',
            labels: {},
            startsAt: now,
            state: 'active',
            silencedBy: [],
            inhibitedBy: [],
          },
        ],
        lastBackup: new Map([['a', now - 120_000]]),
        problems: ['notifier does not answer'],
      },
      [{ at: now, text: 'b healthy -> unreachable' }],
      now,
      { rows: 10, links: ['look here'], backupsVerified: { count: 7, newest: { agentId: 'a', at: now - 5000 } } },
    );
    assert.match(frame, /2 agents: 1 unreachable, 1 healthy/);
    assert.match(frame, /alerts: 1 active, 0 suppressed/);
    assert.match(frame, /b\s+h1\s+unreachable\s+30s ago\s+30s ago\s+-\s+AgentUnreachable/);
    assert.match(frame, /a\s+h1\s+healthy\s+60s ago\s+60s ago\s+2m ago\s+-/);
    assert.match(frame, /00:01:00 {2}b healthy -> unreachable/);
    assert.match(frame, /! notifier does not answer/);
    assert.match(frame, /backups verified since the view started: 7 \(newest a, 5s ago\)/);
    assert.ok(frame.indexOf('b  ') < frame.indexOf('a  '), 'the unreachable agent is listed first');
  });

  it('feed lines say what happened; the heal chain trace comes from the traceparent header', () => {
    assert.equal(
      feedLine(Topics.healResults.name, { agentId: 'x', attempt: 2, success: false, error: 'no pid' }),
      'heal x: attempt 2 failed: no pid',
    );
    assert.equal(feedLine(Topics.stateChanges.name, {}), null);
    assert.equal(
      traceIdOf('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'),
      '0af7651916cd43dd8448eb211c80319c',
    );
    assert.equal(traceIdOf('garbage'), null);
  });

  it('dlq: topics by name, DLQ name, key or short name; replays only where the catalogue says it is harmless', () => {
    for (const arg of ['vigil.agent.state-changes', 'vigil.agent.state-changes.dlq', 'stateChanges', 'state-changes'])
      assert.equal(sourceTopic(arg).name, Topics.stateChanges.name);
    assert.throws(() => sourceTopic('nope'), DlqRefused);
    assert.doesNotThrow(() => replayAllowed(Topics.stateChanges as never));
    assert.throws(() => replayAllowed(Topics.heartbeats as never), /would revive a dead agent/);
    assert.throws(() => replayAllowed(Topics.healCommands as never), /nobody has shown a replay of it to be harmless/);
  });

  it('ages read as people say them', () => {
    assert.equal(ago(1000, 61_000), '60s ago');
    assert.equal(ago(0, 3 * 3600_000), '3h ago');
    assert.equal(ago(null), '-');
  });
});

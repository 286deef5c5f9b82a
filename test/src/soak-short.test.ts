// The chaos soak's short variant, on whatever infra the tests run on (one broker and one Redis in
// CI): instances of all four services SIGKILLed and paused under load, agents killed. The
// long variant (bash test/soak/run.sh) adds brokers and Redis masters on the cluster infra.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runSoak, summarize } from './soak/soak';

const SEED = Number(process.env.SOAK_SEED ?? Math.floor(Math.random() * 2 ** 31));

describe(`the short chaos soak (seed ${SEED}; SOAK_SEED=${SEED} reruns it)`, { timeout: 330_000 }, () => {
  it('keeps every change exactly once and every detection right through kills and pauses', async () => {
    const report = await runSoak({
      seed: SEED,
      seconds: 60,
      rate: 200,
      entities: 500,
      agents: 30,
      intervalMs: 1000,
      faults: { 'kill-service': 4, 'pause-service': 1, 'kill-agent': 2, 'fill-agent-disk': 1 },
      // A drain that stalls fails the run with the partitions behind, well inside the file's limit.
      drainTimeoutMs: 90_000,
    });
    console.log(summarize(report));
    assert.deepEqual(report.violations, []);
    assert.equal(report.faults['kill-service'], 4, 'every scheduled kill was injected');
    assert.equal(report.faults['pause-service'], 1);
    // Its agent refused changes with ENOSPC while full, and kept beating (no false detection below);
    // the changes it accepted once freed are in the changelog and Redis (the change audit).
    assert.equal(report.faults['fill-agent-disk'], 1);
    assert.ok(report.events.sent >= 60 * 200 * 0.8, `the load ran (${report.events.sent} changes sent)`);
    assert.ok(report.events.refused > 0, 'duplicates and reorders were among them, and refused');
    assert.equal(report.events.changelogDuplicates, 0);
    assert.equal(report.events.missingVersions, 0);
    assert.equal(report.events.redisWrong, 0);
    assert.equal(report.heartbeat.falseDetections, 0);
    assert.equal(report.heartbeat.killedDeclaredOnce, report.heartbeat.killedAgents);
    assert.equal(report.heartbeat.killedAgents, 2);
    // Every heal failed by design: each killed agent healed twice, then alerted once; nobody else.
    assert.ok(report.actions, 'the notifier and the backups were audited');
    assert.equal(report.actions.alerts.killedAlertedOnce, 2);
    assert.equal(report.actions.alerts.falseAlerts, 0);
    assert.deepEqual(report.actions.alerts.firedTwice, []);
    // Every 15 s slot of the load, for the backup policy's live agents: verified, and once.
    assert.ok(report.actions.backups.expected >= 20, `backups were due (${report.actions.backups.expected})`);
    assert.deepEqual(report.actions.backups.missing, []);
    assert.deepEqual(report.actions.backups.ranTwice, []);
    assert.notEqual(report.drainSeconds, undefined, 'state-sync committed everything it was sent');
    assert.notEqual(report.groupsDrainSeconds, undefined, 'every other group committed what the run wrote');
    assert.equal(report.readyAtEnd, true);
  });
});

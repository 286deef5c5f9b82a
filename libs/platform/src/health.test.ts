import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HealthRegistry } from './health';

describe('HealthRegistry readiness', () => {
  it('is ready when every check answers, and names the one that does not', async () => {
    const health = new HealthRegistry(50);
    health.register('kafka', async () => undefined);
    health.register('redis', () => new Promise(() => undefined)); // hangs
    const report = await health.report();
    assert.equal(report.status, 'unavailable');
    assert.equal(report.checks.kafka!.status, 'ok');
    assert.match(report.checks.redis!.error!, /timed out after 50 ms/);
  });

  it('is not ready while something holds it (a restore, a shutdown), and is again once every hold is released', async () => {
    const health = new HealthRegistry();
    health.register('kafka', async () => undefined);
    const restoring = health.hold('restoring heartbeat partition 3');
    const shutting = health.hold('shutting down');
    let report = await health.report();
    assert.equal(report.status, 'unavailable');
    assert.deepEqual(report.holds, ['restoring heartbeat partition 3', 'shutting down']);
    restoring();
    restoring(); // releasing twice is harmless
    report = await health.report();
    assert.deepEqual(report.holds, ['shutting down']);
    shutting();
    report = await health.report();
    assert.equal(report.status, 'ok');
    assert.equal(report.holds, undefined);
  });
});

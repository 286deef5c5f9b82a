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

  it('reports restoring, with how far each restore has come, until the restore ends', async () => {
    const health = new HealthRegistry();
    health.register('redis', async () => undefined);
    let read = 0;
    const done = health.restoring('changelog partitions 0,1', () => ({ read, toRead: 300 }));
    read = 120;
    let report = await health.report();
    assert.equal(report.status, 'restoring');
    assert.deepEqual(report.restoring, [{ what: 'changelog partitions 0,1', read: 120, toRead: 300 }]);
    done();
    report = await health.report();
    assert.equal(report.status, 'ok');
    assert.equal(report.restoring, undefined);
  });

  it('a failing dependency outranks a restore: unavailable', async () => {
    const health = new HealthRegistry(50);
    health.register('redis', async () => Promise.reject(new Error('ECONNREFUSED')));
    health.restoring('changelog', () => ({ read: 0, toRead: 1 }));
    assert.equal((await health.report()).status, 'unavailable');
  });
});

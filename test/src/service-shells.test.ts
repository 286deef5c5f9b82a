import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { freePort, startService, stopProcess, waitUntil, type ServiceProcess } from '@vigil/test-kit';

const services = ['heartbeat', 'state-sync', 'backup-orchestrator', 'notifier'] as const;

async function ready(port: number): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/health/ready`)).status === 200;
  } catch {
    return false;
  }
}

describe('the four services run as real processes', () => {
  for (const service of services) {
    it(`${service}: becomes ready against Kafka, the registry and Redis, serves metrics, and exits 0 on SIGTERM`, async () => {
      const port = await freePort();
      const proc: ServiceProcess = startService(service, {
        ...process.env,
        HTTP_PORT: String(port),
        LOG_LEVEL: 'info',
      });
      try {
        await waitUntil(() => ready(port), 60000, `${service} readiness`);
        const report = (await (await fetch(`http://127.0.0.1:${port}/health/ready`)).json()) as {
          checks: Record<string, { status: string }>;
        };
        assert.deepEqual(Object.keys(report.checks).sort(), ['kafka', 'redis', 'schema-registry']);
        assert.ok(Object.values(report.checks).every((c) => c.status === 'ok'));

        const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        assert.match(metrics, new RegExp(`process_resident_memory_bytes\\{service="${service}"\\}`));

        proc.child.kill('SIGTERM');
        const { code } = await proc.exited;
        assert.equal(code, 0, proc.output());
        assert.match(proc.output(), /"msg":"shutting down"/);
      } finally {
        proc.child.kill('SIGKILL');
      }
    });
  }

  it('listens on HTTP_HOST (0.0.0.0 in a container; here another loopback address) and only there', async () => {
    const port = await freePort();
    const proc = startService('notifier', { ...process.env, HTTP_PORT: String(port), HTTP_HOST: '127.0.0.2' });
    try {
      await waitUntil(
        async () => (await fetch(`http://127.0.0.2:${port}/health/live`).catch(() => undefined))?.ok === true,
        60000,
        'notifier on 127.0.0.2',
      );
      await assert.rejects(fetch(`http://127.0.0.1:${port}/health/live`), 'nothing answers on 127.0.0.1');
    } finally {
      await stopProcess(proc.child);
    }
  });

  it('refuses bad config with a message naming the variable, and exits non-zero', async () => {
    const proc = startService('notifier', { ...process.env, HTTP_PORT: 'eighty', SCHEMA_REGISTRY_URL: 'not a url' });
    const { code } = await proc.exited;
    assert.equal(code, 1);
    assert.match(proc.output(), /HTTP_PORT/);
    assert.match(proc.output(), /SCHEMA_REGISTRY_URL: Invalid url/);
  });

  it('answers --help with its environment variables and defaults', async () => {
    const proc = startService('heartbeat', process.env, { args: ['--help'] });
    const { code } = await proc.exited;
    assert.equal(code, 0);
    assert.match(proc.output(), /KAFKA_BROKERS\s+default 127\.0\.0\.1:9092/);
    assert.match(proc.output(), /GET \/health\/ready/);
  });
});

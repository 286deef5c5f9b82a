import { waitUntil } from '@vigil/kafka/testing';
import { freePort, startService, type ServiceProcess } from './processes';

export interface RunningOrchestrator extends ServiceProcess {
  port: number;
  /** A JSON request to its HTTP API; the status and the parsed body. */
  api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
}

/**
 * Starts services/backup-orchestrator in consumer group `group` on a free port (env adds to or
 * overrides the test's infra env); resolves once it is ready.
 */
export async function startOrchestrator(group: string, env: Record<string, string> = {}): Promise<RunningOrchestrator> {
  const port = await freePort();
  const proc = startService('backup-orchestrator', {
    ...process.env,
    HTTP_PORT: String(port),
    CONSUMER_GROUP: group,
    TICK_INTERVAL_MS: '200',
    LOG_LEVEL: 'info',
    ...env,
  });
  await waitUntil(
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`orchestrator exited early: ${proc.output().slice(-2000)}`);
      return fetch(`http://127.0.0.1:${port}/health/ready`).then(
        (r) => r.ok,
        () => false,
      );
    },
    60_000,
    'the orchestrator to be ready',
  );
  return {
    ...proc,
    port,
    api: async <T>(method: string, path: string, body?: unknown) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, {
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as T };
    },
  };
}

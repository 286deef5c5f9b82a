import { Topics } from '@vigil/events';
import { waitUntil } from '@vigil/kafka/testing';
import { metricLines, metricSum } from './metric-scrape';
import { freePort, startService, stopProcess, type ServiceProcess } from './processes';

export interface RunningHeartbeat extends ServiceProcess {
  port: number;
  metricLines(prefix: string): Promise<string[]>;
  metricSum(prefix: string): Promise<number>;
  /** Heartbeat partitions this instance owns (from its lag gauge). */
  ownedPartitions(): Promise<number[]>;
  fleet<T = unknown>(query?: string): Promise<T>;
  /** SIGTERM, SIGKILL after 15 s. */
  stop(): Promise<void>;
}

/**
 * Starts services/heartbeat in consumer group `group` on a free port and waits until it is ready
 * (or, with `ownAllPartitions`, until it owns every heartbeat partition: a lone instance in steady state).
 */
export async function startHeartbeat(
  group: string,
  env: Record<string, string> = {},
  options: { logFile?: string; ownAllPartitions?: boolean } = {},
): Promise<RunningHeartbeat> {
  const port = await freePort();
  const proc = startService(
    'heartbeat',
    { ...process.env, HTTP_PORT: String(port), LOG_LEVEL: 'info', CONSUMER_GROUP: group, ...env },
    { logFile: options.logFile },
  );
  const get = (p: string) => fetch(`http://127.0.0.1:${port}${p}`);
  const running: RunningHeartbeat = {
    ...proc,
    port,
    metricLines: (prefix) => metricLines(port, prefix),
    metricSum: (prefix) => metricSum(port, prefix),
    async ownedPartitions() {
      const lines = await metricLines(port, 'vigil_heartbeat_partition_lag_records{');
      return lines.map((l) => Number(/partition="(\d+)"/.exec(l)![1])).sort((a, b) => a - b);
    },
    async fleet<T>(query = '') {
      return (await (await get(`/fleet${query}`)).json()) as T;
    },
    stop: () => stopProcess(proc.child),
  };
  const ready = async () => {
    if (proc.child.exitCode !== null) throw new Error(`heartbeat exited early: ${proc.output().slice(-2000)}`);
    try {
      if (options.ownAllPartitions) return (await running.ownedPartitions()).length === Topics.heartbeats.partitions;
      return (await get('/health/ready')).ok;
    } catch {
      return false;
    }
  };
  await waitUntil(ready, 60000, options.ownAllPartitions ? 'heartbeat to own every partition' : 'heartbeat readiness');
  return running;
}

/** Waits until the group's members own all heartbeat partitions between them, each exactly once. */
export async function waitAssigned(instances: RunningHeartbeat[], timeoutMs = 60000): Promise<void> {
  await waitUntil(
    async () => {
      const owned = (await Promise.all(instances.map((i) => i.ownedPartitions()))).flat();
      return new Set(owned).size === Topics.heartbeats.partitions && owned.length === Topics.heartbeats.partitions;
    },
    timeoutMs,
    'heartbeat partitions to be assigned',
  );
}

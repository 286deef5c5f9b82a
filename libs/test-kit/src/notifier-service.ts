import { Topics } from '@vigil/events';
import { waitUntil } from '@vigil/kafka/testing';
import { metricSum } from './metric-scrape';
import { freePort, startService, waitServiceReady, type ServiceProcess } from './processes';

export interface RunningNotifier extends ServiceProcess {
  port: number;
  get<T>(path: string): Promise<T>;
}

/**
 * Starts services/notifier in consumer group `group` on a free port; resolves once it owns every
 * shard (with `ownAll: false`, some: it shares the group) and is ready (a new group starts at the end of the liveness topic: events published before
 * that are not its).
 */
export async function startNotifier(
  group: string,
  env: Record<string, string> = {},
  options: { ownAll?: boolean } = { ownAll: true },
): Promise<RunningNotifier> {
  const port = await freePort();
  const proc = startService('notifier', {
    ...process.env,
    HTTP_PORT: String(port),
    LOG_LEVEL: 'info',
    CONSUMER_GROUP: group,
    ...env,
  });
  await waitUntil(
    async () => {
      if (proc.child.exitCode !== null) throw new Error(`notifier exited early: ${proc.output().slice(-2000)}`);
      const owned = await metricSum(port, 'vigil_notifier_shards_owned').catch(() => 0);
      return options.ownAll === false ? owned > 0 : owned === Topics.liveness.partitions;
    },
    60_000,
    'the notifier to own every shard',
  );
  await waitServiceReady(proc, port, 30_000, 'notifier readiness');
  return {
    ...proc,
    port,
    get: async <T>(path: string) => (await (await fetch(`http://127.0.0.1:${port}${path}`)).json()) as T,
  };
}

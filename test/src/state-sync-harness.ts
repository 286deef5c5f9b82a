// Drives state-sync as real processes and checks its results in Redis and on the changelog.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { RecordHeaderNames, Topics, type StateChangeEvent } from '@vigil/events';
import { highWatermarks, partitionOfKey, readPartitionRanges, type EventProducer } from '@vigil/kafka';
import { createRedisClient } from '@vigil/platform';
import { stateSyncKeys } from '@vigil/redis-keys';
import {
  committedOffsets,
  connectToInfra,
  freePort,
  metricSum,
  startService,
  waitServiceReady,
  waitUntil,
  type ServiceProcess,
} from '@vigil/test-kit';

export const GROUP = 'state-sync';

export const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0;

/** A private Redis that keeps nothing on disk, like the machines' default one: a test may empty it at will. */
export function startRedis(port: number): ChildProcess {
  return spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
}

export function connect() {
  const infra = connectToInfra('state-sync-test');
  return { ...infra, redis: createRedisClient(infra.env.redisUrl) };
}

/** The key of an entity's state hash: in the slot of the partition its events land on (keyed by entity id). */
export function entityStateKey(entityId: string): string {
  return stateSyncKeys(partitionOfKey(entityId, Topics.stateChanges.partitions)).state(entityId);
}

export interface RunningStateSync extends ServiceProcess {
  port: number;
  metric(name: string): Promise<number>;
}

export async function startStateSync(env: Record<string, string> = {}, waitReady = true): Promise<RunningStateSync> {
  const port = await freePort();
  const proc = startService('state-sync', { ...process.env, HTTP_PORT: String(port), LOG_LEVEL: 'warn', ...env });
  if (waitReady) await waitServiceReady(proc, port, 60000, 'state-sync readiness');
  return { ...proc, port, metric: (prefix) => metricSum(port, prefix) };
}

/** The agent of a test entity `<prefix>-e<n>` is `<prefix>-agent` (the last "-e": a run id may start with "e"). */
export function agentOf(entityId: string): string {
  const cut = entityId.lastIndexOf('-e');
  return `${cut < 0 ? entityId : entityId.slice(0, cut)}-agent`;
}

export function event(entityId: string, version: number, overrides: Partial<StateChangeEvent> = {}): StateChangeEvent {
  return {
    eventId: randomUUID(),
    entityId,
    entityType: 'service',
    agentId: agentOf(entityId),
    eventType: version === 1 ? 'created' : 'updated',
    version,
    timestamp: Date.now(),
    payload: JSON.stringify({ version }),
    checksum: null,
    ...overrides,
  };
}

export async function publish(producer: EventProducer, events: StateChangeEvent[], chunk = 500): Promise<void> {
  for (let i = 0; i < events.length; i += chunk) {
    await producer.send(
      Topics.stateChanges,
      events.slice(i, i + chunk).map((value) => ({ value })),
    );
  }
}

/**
 * Waits until the state-sync group has committed everything now on the input topic. On a timeout
 * the error names the partitions behind and, given a service, ends with its log's tail.
 */
export interface InputProgress {
  partition: number;
  /** The group's committed offset (-1: nothing committed). */
  committed: bigint;
  end: bigint;
}

/** Per partition of the input topic: where state-sync's group has committed, and where the topic ends (now, or at `ends`). */
export async function inputProgress(
  kafka: ReturnType<typeof connect>['kafka'],
  ends?: Map<number, bigint>,
): Promise<InputProgress[]> {
  const until = ends ?? (await highWatermarks(kafka, Topics.stateChanges.name));
  const committed = await committedOffsets(kafka, GROUP, Topics.stateChanges.name);
  return [...until].map(([partition, end]) => ({ partition, committed: committed.get(partition) ?? -1n, end }));
}

/** Records of the input topic state-sync's group has not committed past. */
export async function inputLag(kafka: ReturnType<typeof connect>['kafka']): Promise<bigint> {
  let lag = 0n;
  for (const p of await inputProgress(kafka)) {
    const behind = p.end - (p.committed < 0n ? 0n : p.committed);
    if (behind > 0n) lag += behind;
  }
  return lag;
}

export async function waitCaughtUp(
  kafka: ReturnType<typeof connect>['kafka'],
  timeoutMs = 120000,
  service?: { output(): string },
): Promise<void> {
  const ends = await highWatermarks(kafka, Topics.stateChanges.name);
  let behind: string[] = [];
  try {
    await waitUntil(
      async () => {
        behind = (await inputProgress(kafka, ends))
          .filter((p) => p.end > 0n && p.committed < p.end)
          .map((p) => `${p.partition}: ${p.committed}/${p.end}`);
        return behind.length === 0;
      },
      timeoutMs,
      'state-sync to commit everything on the input topic',
    );
  } catch (e) {
    const tail = service ? `\n--- state-sync log (tail) ---\n${service.output().slice(-8000)}` : '';
    throw new Error(`${(e as Error).message}; behind: ${behind.join(', ')}${tail}`);
  }
}

/** Every changelog record of these entities: versions in log order, per entity. */
export async function changelogOf(kafka: ReturnType<typeof connect>['kafka'], entities: Set<string>) {
  const ends = await highWatermarks(kafka, Topics.stateChangelog.name);
  const seen = new Map<string, Array<{ version: number; tombstone: boolean; partition: number }>>();
  await readPartitionRanges(
    kafka,
    Topics.stateChangelog.name,
    [...ends].map(([partition, to]) => ({ partition, from: 0n, to })),
    (partition, m) => {
      const key = m.key?.toString() ?? '';
      if (!entities.has(key)) return;
      const version = Number(m.headers?.[RecordHeaderNames.version]?.toString());
      seen.set(key, [...(seen.get(key) ?? []), { version, tombstone: m.value === null, partition }]);
    },
    120000,
  );
  return seen;
}

/** What a correct state-sync accepts, per entity, given the order the events were sent in. */
export function expectedAccepted(sent: StateChangeEvent[]): Map<string, number[]> {
  const accepted = new Map<string, number[]>();
  const applied = new Set<string>();
  for (const e of sent) {
    const list = accepted.get(e.entityId) ?? [];
    if (!applied.has(e.eventId) && e.version > (list.at(-1) ?? -1)) {
      list.push(e.version);
      applied.add(e.eventId);
    }
    accepted.set(e.entityId, list);
  }
  return accepted;
}

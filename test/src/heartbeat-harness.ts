// Drives the heartbeat service and the fleet simulator as real processes, and watches the liveness topic.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import {
  createKafkaClient,
  EventProducer,
  highWatermarks,
  SchemaCodec,
  testing,
  Topics,
  type AgentLivenessChanged,
  type KafkaClient,
} from '@vigil/events';
import { freePort, repoRoot, startService, type ServiceProcess } from './processes';

export const quiet = { debug() {}, info() {}, warn() {}, error() {} };

export function connect() {
  const env = testing.infraEnv();
  const kafka = createKafkaClient({ brokers: env.brokers, clientId: 'heartbeat-test', logger: quiet });
  const codec = new SchemaCodec({ registryUrl: env.registryUrl });
  return { kafka, codec, producer: new EventProducer(kafka, codec) };
}

export interface RunningHeartbeat extends ServiceProcess {
  port: number;
  metricLines(prefix: string): Promise<string[]>;
  /** Heartbeat partitions this instance owns (from its lag gauge). */
  ownedPartitions(): Promise<number[]>;
  fleet<T = unknown>(query?: string): Promise<T>;
}

export async function startHeartbeat(group: string, env: Record<string, string> = {}): Promise<RunningHeartbeat> {
  const port = await freePort();
  const proc = startService('heartbeat', {
    ...process.env,
    HTTP_PORT: String(port),
    LOG_LEVEL: 'info',
    CONSUMER_GROUP: group,
    ...env,
  });
  const get = async (p: string) => fetch(`http://127.0.0.1:${port}${p}`);
  await testing.waitUntil(
    async () => {
      try {
        return (await get('/health/ready')).ok;
      } catch {
        return false;
      }
    },
    60000,
    'heartbeat readiness',
  );
  const metricLines = async (prefix: string) =>
    (await (await get('/metrics')).text()).split('\n').filter((l) => l.startsWith(prefix));
  return {
    ...proc,
    port,
    metricLines,
    async ownedPartitions() {
      const lines = await metricLines('vigil_heartbeat_partition_lag_records{');
      return lines.map((l) => Number(/partition="(\d+)"/.exec(l)![1])).sort((a, b) => a - b);
    },
    async fleet<T>(query = '') {
      return (await (await get(`/fleet${query}`)).json()) as T;
    },
  };
}

/** Waits until the group's members own all 12 heartbeat partitions between them. */
export async function waitAssigned(instances: RunningHeartbeat[], timeoutMs = 60000): Promise<void> {
  await testing.waitUntil(
    async () => {
      const owned = (await Promise.all(instances.map((i) => i.ownedPartitions()))).flat();
      return new Set(owned).size === Topics.heartbeats.partitions && owned.length === Topics.heartbeats.partitions;
    },
    timeoutMs,
    'heartbeat partitions to be assigned',
  );
}

export interface FleetEvent {
  event: string;
  at: number;
  agents?: string[];
  lastBeats?: Record<string, number | null>;
  [k: string]: unknown;
}

export interface RunningFleet {
  child: ChildProcess;
  events: FleetEvent[];
  send(command: string): void;
  waitFor(event: string, timeoutMs?: number): Promise<FleetEvent>;
  quit(): Promise<void>;
}

/** Starts tools/fleet-sim with these arguments; commands go to its stdin, its JSON events are collected. */
export function startFleet(args: string[]): RunningFleet {
  const child = spawn(process.execPath, [path.join(repoRoot, 'tools/fleet-sim/dist/main.js'), ...args], {
    env: process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const events: FleetEvent[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      events.push(JSON.parse(line) as FleetEvent);
    } catch {
      // not an event line
    }
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const waitFor = async (event: string, timeoutMs = 60000) => {
    const seen = events.length;
    await testing.waitUntil(
      () => events.slice(seen).some((e) => e.event === event) || events.some((e) => e.event === 'error'),
      timeoutMs,
      `fleet-sim event "${event}" (stderr: ${stderr.slice(-500)})`,
    );
    const err = events.find((e) => e.event === 'error');
    if (err) throw new Error(`fleet-sim refused a command: ${JSON.stringify(err)}`);
    return events.slice(seen).find((e) => e.event === event)!;
  };
  return {
    child,
    events,
    send: (command) => child.stdin!.write(`${command}\n`),
    waitFor,
    async quit() {
      if (child.exitCode !== null) return;
      child.stdin!.write('quit\n');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15000))]);
      child.kill('SIGKILL');
    },
  };
}

export interface SeenTransition extends AgentLivenessChanged {
  /** Local wall time at which the test read the event. */
  receivedAt: number;
}

/** Every AgentLivenessChanged of agents whose id starts with prefix, read as they are published. */
export async function watchLiveness(kafka: KafkaClient, codec: SchemaCodec, prefix: string) {
  const seen: SeenTransition[] = [];
  // The watcher is an at-least-once reader: a record it re-reads (its own rebalance) is not a second event.
  const offsets = new Set<string>();
  // From the topic's end as of now: earlier runs (and benchmarks) may have left many events there.
  const start = await highWatermarks(kafka, Topics.liveness.name);
  const consumer = kafka.consumer({ groupId: `liveness-watch-${prefix}`, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topic: Topics.liveness.name, fromBeginning: true });
  consumer.on(consumer.events.GROUP_JOIN, () => {
    for (const [partition, offset] of start)
      consumer.seek({ topic: Topics.liveness.name, partition, offset: offset.toString() });
  });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      if (!message.key?.toString().startsWith(prefix)) return;
      const at = `${partition}@${message.offset}`;
      if (offsets.has(at)) return;
      offsets.add(at);
      const d = await codec.decode(Topics.liveness, message.value);
      if (d.ok) seen.push({ ...(testing.plain(d.value) as AgentLivenessChanged), receivedAt: Date.now() });
    },
  });
  return {
    seen,
    of: (agentId: string) => seen.filter((t) => t.agentId === agentId).map((t) => t.to),
    to: (state: string) => seen.filter((t) => t.to === state),
    stop: () => consumer.disconnect(),
  };
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

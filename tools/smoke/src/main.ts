#!/usr/bin/env node
// Publishes heartbeats and versioned state changes for a few agents through the real producer,
// reads them back through the real consumer runner, and reports what arrived and how fast.
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import {
  sampleHeartbeat,
  sampleStateChange,
  SchemaCodec,
  Topics,
  type Heartbeat,
  type StateChangeEvent,
} from '@vigil/events';
import {
  ConsumerRunner,
  createKafkaClient,
  ensureTopics,
  EventProducer,
  parseBrokers,
  silentLogger,
  type ConsumedRecord,
  type EventsLogger,
} from '@vigil/kafka';

const HELP = `vigil-smoke: publish heartbeats and state changes, read them back, report.

Usage: node tools/smoke/dist/main.js [--agents N] [--versions M] [--timeout-ms T]

  --agents N       simulated agents, one entity each (default 5)
  --versions M     state-change versions per entity (default 20)
  --timeout-ms T   how long to wait for everything to come back (default 60000)
  -h, --help       this text

Environment: KAFKA_BROKERS (127.0.0.1:9092), SCHEMA_REGISTRY_URL (http://127.0.0.1:8081/apis/ccompat/v7)
Exit status: 0 when every record came back in order, 1 otherwise.`;

const quiet: EventsLogger = { ...silentLogger, error: (o, m) => console.error(m, o) };

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

// On a terminal one line updates in place; in a log every update is its own line, at most every second.
let lastProgress = 0;
function progress(line: string, final = false): void {
  if (process.stdout.isTTY) process.stdout.write(`\r${line}   ${final ? '\n' : ''}`);
  else if (final || Date.now() - lastProgress >= 1000) {
    lastProgress = Date.now();
    process.stdout.write(`${line}\n`);
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      agents: { type: 'string', default: '5' },
      versions: { type: 'string', default: '20' },
      'timeout-ms': { type: 'string', default: '60000' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const agents = Number(values.agents);
  const versions = Number(values.versions);
  const timeoutMs = Number(values['timeout-ms']);
  if (![agents, versions, timeoutMs].every((n) => Number.isInteger(n) && n > 0)) {
    console.error('--agents, --versions and --timeout-ms take positive integers (see --help)');
    return 2;
  }

  const run = randomUUID().slice(0, 8);
  const kafka = createKafkaClient({
    brokers: parseBrokers(process.env.KAFKA_BROKERS ?? '127.0.0.1:9092'),
    clientId: 'vigil-smoke',
    logger: quiet,
  });
  const codec = new SchemaCodec({
    registryUrl: process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7',
  });
  const producer = new EventProducer(kafka, codec);
  await ensureTopics(kafka, undefined, quiet);

  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const versionsSeen = new Map<string, number[]>();
  let heartbeatsBack = 0;
  const mine = (agentId: string) => agentId.startsWith(`smoke-${run}-`);
  const runner = new ConsumerRunner({
    kafka,
    codec,
    producer,
    groupId: `vigil-smoke-${run}`,
    fromBeginning: false,
    logger: quiet,
    subscriptions: [
      {
        topic: Topics.stateChanges,
        handler: async (records: Array<ConsumedRecord<StateChangeEvent>>) => {
          for (const r of records) {
            if (!mine(r.value.agentId)) continue;
            latencies.push(Date.now() - (sentAt.get(r.value.eventId) ?? Date.now()));
            versionsSeen.set(r.value.entityId, [...(versionsSeen.get(r.value.entityId) ?? []), r.value.version]);
          }
        },
      },
      {
        topic: Topics.heartbeats,
        handler: async (records: Array<ConsumedRecord<Heartbeat>>) => {
          heartbeatsBack += records.filter((r) => mine(r.value.agentId)).length;
        },
      },
    ] as never,
  });
  const joined = new Promise<void>((resolve) => runner.onGroupJoin(() => resolve()));
  await runner.start();
  await joined; // fromBeginning=false: publish only once the group owns its partitions

  const total = agents * versions;
  console.log(`smoke ${run}: ${agents} agents x ${versions} versions = ${total} state changes + ${agents} heartbeats`);
  for (let a = 0; a < agents; a++) {
    const agentId = `smoke-${run}-a${a}`;
    await producer.send(Topics.heartbeats, [{ value: sampleHeartbeat(agentId, { timestamp: Date.now() }) }]);
  }
  for (let v = 1; v <= versions; v++) {
    const batch = Array.from({ length: agents }, (_, a) =>
      sampleStateChange(`smoke-${run}-e${a}`, v, {
        agentId: `smoke-${run}-a${a}`,
        eventId: randomUUID(),
        timestamp: Date.now(),
      }),
    );
    for (const e of batch) sentAt.set(e.eventId, Date.now());
    await producer.send(
      Topics.stateChanges,
      batch.map((value) => ({ value })),
    );
    progress(`published ${v * agents}/${total}, read back ${latencies.length}`);
  }

  const deadline = Date.now() + timeoutMs;
  while ((latencies.length < total || heartbeatsBack < agents) && Date.now() < deadline) {
    progress(`published ${total}/${total}, read back ${latencies.length}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  progress(`published ${total}/${total}, read back ${latencies.length}`, true);
  await runner.stop();
  await producer.disconnect();

  const inOrder = [...versionsSeen.values()].every((vs) => vs.every((v, i) => v === i + 1));
  const sorted = [...latencies].sort((x, y) => x - y);
  console.log(
    `state changes back: ${latencies.length}/${total} (per-entity order ${inOrder ? 'kept' : 'BROKEN'}), ` +
      `heartbeats back: ${heartbeatsBack}/${agents}, publish->consume p50 ${percentile(sorted, 50)} ms, p99 ${percentile(sorted, 99)} ms`,
  );
  return latencies.length === total && heartbeatsBack === agents && inOrder ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(`smoke failed: ${e.message}`);
    process.exit(1);
  },
);

#!/usr/bin/env node
// state-sync as a real process: sustained throughput next to the raw KafkaJS consume rate on the
// same topic in the same run, and publish -> Redis-visible latency at fixed publish rates.
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Topics } from '@vigil/events';
import { createKafkaClient, ensureTopics, highWatermarks } from '@vigil/kafka';
import { errorsToStderr, startService, stopProcess, waitUntil } from '@vigil/test-kit';
import Redis from 'ioredis';
import { benchClients, redisUrl } from './bench-clients';
import { latencyAtRate, redisVisibility } from './latency-probe';
import { topSelfTime } from './cpu-profile';
import { writeReport } from './report';
import { committedAll, metric, preload } from './state-sync-kit';

const HELP = `state-sync-throughput: state-sync events/s vs raw KafkaJS, and publish->Redis latency at fixed rates.

Usage: node bench/dist/state-sync-throughput.js [--events N] [--rates 1000,5000,20000] [--seconds S]
  --events N     events pre-loaded for the throughput phase (default 100000)
  --rates LIST   publish rates for the latency phase, events/s (default 1000,5000,20000)
  --seconds S    duration of each rate (default 10)
Env: KAFKA_BROKERS, SCHEMA_REGISTRY_URL, REDIS_URL. Writes bench/results/state-sync.json.
Starts its own state-sync process (consumer group bench-state-sync-<run>) with --cpu-prof.`;

const quiet = errorsToStderr;

async function main() {
  const { values } = parseArgs({
    options: {
      events: { type: 'string', default: '100000' },
      rates: { type: 'string', default: '1000,5000,20000' },
      seconds: { type: 'string', default: '10' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return console.log(HELP);
  const n = Number(values.events);
  const rates = values.rates!.split(',').map(Number);
  const seconds = Number(values.seconds);
  const run = randomUUID().slice(0, 8);
  const { kafka, producer } = benchClients('bench');
  const redis = new Redis(redisUrl());
  await ensureTopics(kafka, undefined, quiet);
  const group = `bench-state-sync-${run}`;

  // The new group starts at the beginning of the topic: everything already there is part of the
  // measured stream, for state-sync and for the raw consumer alike.
  console.log(`pre-loading ${n} events (${n / 20} entities x 20 versions)`);
  await preload(producer, `bench-${run}`, n);
  const ends = await highWatermarks(kafka, Topics.stateChanges.name);
  const total = [...ends.values()].reduce((a, b) => a + Number(b), 0);
  console.log(`input topic holds ${total} records`);

  const raw = await rawConsumeRate(kafka, ends);
  console.log(`raw KafkaJS consume: ${Math.round(raw)} records/s`);

  const profDir = mkdtempSync(path.join(os.tmpdir(), 'vigil-prof-'));
  const port = 3900 + Math.floor(Math.random() * 90);
  const { child } = startService(
    'state-sync',
    { ...process.env, HTTP_PORT: String(port), CONSUMER_GROUP: group, LOG_LEVEL: 'warn' },
    { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`], logFile: path.join(profDir, 'state-sync.log') },
  );
  const started = Date.now();
  const caughtUp = () => committedAll(kafka, group, ends);
  let first = 0;
  await waitUntil(
    async () => {
      if (!first && (await metric(port, 'vigil_state_events_total')) > 0) first = Date.now();
      return caughtUp();
    },
    900000,
    'state-sync to catch up',
  );
  const stateSyncRate = total / ((Date.now() - (first || started)) / 1000);
  console.log(`state-sync: ${Math.round(stateSyncRate)} events/s (${total} records)`);

  const latency: Record<string, unknown> = {};
  for (const rate of rates) {
    console.log(`latency at ${rate} events/s for ${seconds} s`);
    const figures = await latencyAtRate(producer, redisVisibility(redis), `bench-${run}`, rate, seconds);
    latency[String(rate)] = { ...figures, rssMiB: await rssOf(port) };
  }

  const batchP = await batchHistogram(port);
  await stopProcess(child, 60000);
  await producer.disconnect();
  redis.disconnect();
  writeReport('state-sync', {
    inputRecords: total,
    rawKafkajsRecordsPerSecond: Math.round(raw),
    stateSyncEventsPerSecond: Math.round(stateSyncRate),
    ratio: Number((stateSyncRate / raw).toFixed(3)),
    latencyMsByRate: latency,
    batchSeconds: batchP,
    stateSyncCpuProfileTop: topSelfTime(profDir),
    cpuProfileDirAndLog: profDir,
    targets: { ratio: 0.5, eventsPerSecond: 30000, p99MsAt5k: 20 },
  });
}

async function rawConsumeRate(kafka: ReturnType<typeof createKafkaClient>, ends: Map<number, bigint>): Promise<number> {
  const target = [...ends.values()].reduce((a, b) => a + Number(b), 0);
  let count = 0;
  let first = 0;
  let last = 0;
  const consumer = kafka.consumer({ groupId: `bench-raw-${randomUUID()}` });
  await consumer.connect();
  await consumer.subscribe({ topic: Topics.stateChanges.name, fromBeginning: true });
  await consumer.run({
    eachBatch: async ({ batch }) => {
      if (!first) first = Date.now();
      count += batch.messages.length;
      last = Date.now();
    },
  });
  await waitUntil(() => count >= target, 600000, 'raw consumer');
  await consumer.disconnect();
  return count / ((last - first) / 1000);
}

async function rssOf(port: number) {
  return Math.round((await metric(port, 'process_resident_memory_bytes')) / 2 ** 20);
}

async function batchHistogram(port: number) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const meanMs = (name: string, labels = '[^}]*') => {
    const sum = Number(text.match(new RegExp(`${name}_sum\\{${labels}\\} (\\S+)`))?.[1]);
    const count = Number(text.match(new RegExp(`${name}_count\\{${labels}\\} (\\S+)`))?.[1]);
    return { count, meanMs: Number(((1000 * sum) / Math.max(1, count)).toFixed(2)) };
  };
  const { count, meanMs: batchMean } = meanMs('vigil_state_batch_seconds');
  const phase = (p: string) => meanMs('vigil_state_batch_phase_seconds', `[^}]*phase="${p}"[^}]*`).meanMs;
  return {
    batches: count,
    meanMs: batchMean,
    phaseMeanMs: { apply: phase('apply'), publish: phase('publish'), mark: phase('mark') },
  };
}

main().catch((e: Error) => {
  console.error(`bench failed: ${e.message}`);
  process.exit(1);
});

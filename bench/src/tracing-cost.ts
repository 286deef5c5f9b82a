#!/usr/bin/env node
// What tracing costs state-sync: the same input consumed three times in one run, by a fresh group
// each time, with tracing off, sampled at 10% and at 100% (exported to the local Zipkin).
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Topics } from '@vigil/events';
import { ensureTopics, highWatermarks } from '@vigil/kafka';
import { entityKeys } from './latency-probe';
import { errorsToStderr, freePort, startService, stopProcess, waitHttpOk, waitUntil } from '@vigil/test-kit';
import Redis from 'ioredis';
import { benchClients, redisUrl } from './bench-clients';
import { writeReport } from './report';
import { committedAll, metric, preload } from './state-sync-kit';

const HELP = `tracing-cost: state-sync's throughput, CPU and memory with tracing off, sampled at 10% and at
100% (OTEL_TRACES_EXPORTER=zipkin), on the same input in one run.

Usage: node bench/dist/tracing-cost.js [--events N]
  --events N   events pre-loaded (default 60000); each variant reads the whole state-change topic
               from its beginning with a group of its own, so earlier records count too (printed;
               they are duplicates for every variant), and the bench's entities are removed from
               Redis before each, so every variant applies and publishes the same events
Env: KAFKA_BROKERS, SCHEMA_REGISTRY_URL, REDIS_URL, OTEL_EXPORTER_ZIPKIN_ENDPOINT (infra/up.sh writes
them to .vigil/infra.env). Writes bench/results/tracing-cost.json.`;

const VARIANTS: Array<{ name: string; env: Record<string, string> }> = [
  { name: 'off', env: {} },
  {
    name: 'sampled 10%',
    env: {
      OTEL_TRACES_EXPORTER: 'zipkin',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.1',
    },
  },
  { name: 'all (100%)', env: { OTEL_TRACES_EXPORTER: 'zipkin', OTEL_TRACES_SAMPLER: 'parentbased_always_on' } },
];

async function main() {
  const { values } = parseArgs({
    options: { events: { type: 'string', default: '60000' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help) return console.log(HELP);
  if (!process.env.OTEL_EXPORTER_ZIPKIN_ENDPOINT)
    throw new Error(
      'OTEL_EXPORTER_ZIPKIN_ENDPOINT is not set: bring Zipkin up with infra/up.sh and source .vigil/infra.env',
    );
  const run = randomUUID().slice(0, 8);
  const { kafka, producer } = benchClients('bench');
  await ensureTopics(kafka, undefined, errorsToStderr);
  console.log(`pre-loading ${values.events} events`);
  await preload(producer, `bench-tc-${run}`, Number(values.events));
  await producer.disconnect();
  const ends = await highWatermarks(kafka, Topics.stateChanges.name);
  const total = [...ends.values()].reduce((a, b) => a + Number(b), 0);
  console.log(`each variant reads ${total} records`);

  const redis = new Redis(redisUrl());
  const entities = Number(values.events) / 20;
  const rows: Array<Record<string, unknown>> = [];
  for (const [i, variant] of VARIANTS.entries()) {
    // The same work for every variant: the bench's entities forgotten, so their events are applied
    // and published again instead of found to be duplicates of the previous variant's.
    const forget = redis.pipeline();
    for (let e = 0; e < entities; e++) {
      const id = `bench-tc-${run}-e${e}`;
      forget.del(entityKeys(id).state(id), entityKeys(id).unpublished(id));
    }
    await forget.exec();
    const group = `bench-tracing-${run}-${i}`;
    const port = await freePort();
    const proc = startService('state-sync', {
      ...process.env,
      ...variant.env,
      HTTP_PORT: String(port),
      CONSUMER_GROUP: group,
      LOG_LEVEL: 'warn',
    });
    await waitHttpOk(port, '/health/live', 60_000, 'state-sync');
    let first = 0;
    let rssMax = 0;
    await waitUntil(
      async () => {
        if (!first && (await metric(port, 'vigil_state_events_total')) > 0) first = Date.now();
        rssMax = Math.max(rssMax, await metric(port, 'process_resident_memory_bytes'));
        return committedAll(kafka, group, ends);
      },
      1_800_000,
      `state-sync (${variant.name}) to catch up`,
    );
    const seconds = (Date.now() - first) / 1000;
    const cpu = await metric(port, 'process_cpu_seconds_total');
    await stopProcess(proc.child, 60_000);
    const row = {
      tracing: variant.name,
      eventsPerSecond: Math.round(total / seconds),
      cpuSecondsPer100k: Number(((cpu / total) * 100_000).toFixed(1)),
      peakRssMiB: Math.round(rssMax / 2 ** 20),
    };
    console.log(JSON.stringify(row));
    rows.push(row);
  }
  redis.disconnect();
  const off = rows[0]!.eventsPerSecond as number;
  writeReport('tracing-cost', {
    records: total,
    rows: rows.map((r) => ({ ...r, throughputVsOff: Number(((r.eventsPerSecond as number) / off).toFixed(2)) })),
  });
  process.exit(0);
}

main().catch((e: Error) => {
  console.error(`tracing-cost failed: ${e.message}`);
  process.exit(1);
});

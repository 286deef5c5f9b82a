#!/usr/bin/env node
// What state-sync holds under a backlog, per configuration: the same backlog applied by a fresh
// state-sync process under each setting of the fetch bounds (and V8 flags), with its throughput
// over the whole backlog and its peak RSS and heap from its own /metrics.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Topics } from '@vigil/events';
import { ensureTopics, highWatermarks } from '@vigil/kafka';
import { errorsToStderr, startService, stopProcess } from '@vigil/test-kit';
import { benchClients } from './bench-clients';
import { measureBacklog, type BacklogFigures } from './anchor-processes';
import { skipToEnd } from './group-offsets';
import { writeReport } from './report';
import { preload } from './state-sync-kit';

const HELP = `state-sync-memory: state-sync's throughput and peak memory on one backlog per configuration.

Usage: node bench/dist/state-sync-memory.js [--events N] [--configs LIST]
  --events N      events per backlog (default 200000: N/20 entities x 20 versions)
  --configs LIST  ';'-separated configurations, each space-separated ENV=value settings and node
                  flags, after the service's launch flags (default: as launched, i.e. 2 MiB fetches
                  and a 192 MiB heap cap; without the cap; 4 and 1 MiB fetches; 4 MiB without the
                  cap). A list starting with '-' needs --configs=LIST.
Env: KAFKA_BROKERS, SCHEMA_REGISTRY_URL, REDIS_URL. Writes bench/results/state-sync-memory.json.
Every configuration commits every 100 ms (COMMIT_INTERVAL_MS=100) and starts at the topic's end.`;

const DEFAULT_CONFIGS = [
  '',
  '--max-old-space-size=4096',
  'CONSUMER_MAX_BYTES=4194304',
  'CONSUMER_MAX_BYTES=1048576',
  'CONSUMER_MAX_BYTES=4194304 --max-old-space-size=4096',
].join(';');

const HEAP_METRICS = {
  heapUsed: 'nodejs_heap_size_used_bytes',
  heapTotal: 'nodejs_heap_size_total_bytes',
  external: 'nodejs_external_memory_bytes',
} as const;
const MiB = 1024 * 1024;

interface PhaseTotals {
  sum: number;
  count: number;
}

/** The sums and counts of vigil_state_batch_phase_seconds by phase, from a /metrics text. */
function phaseTotals(text: string): Record<string, PhaseTotals> {
  const out: Record<string, PhaseTotals> = {};
  for (const m of text.matchAll(/^vigil_state_batch_phase_seconds_(sum|count)\{[^}]*phase="(\w+)"[^}]*\} (\S+)$/gm)) {
    const t = (out[m[2]!] ??= { sum: 0, count: 0 });
    t[m[1] as 'sum' | 'count'] = Number(m[3]);
  }
  return out;
}

const round = (x: number) => Math.round(x * 10) / 10;

async function main() {
  const { values } = parseArgs({
    options: {
      events: { type: 'string', default: '200000' },
      configs: { type: 'string', default: DEFAULT_CONFIGS },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return console.log(HELP);
  const n = Number(values.events);
  if (!Number.isInteger(n) || n < 20 || n % 20 !== 0) throw new Error('--events must be a multiple of 20');
  const { kafka, producer } = benchClients('bench-memory');
  await ensureTopics(kafka, undefined, errorsToStderr);
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'vigil-memory-'));
  const rows: Array<Record<string, unknown>> = [];

  for (const config of values.configs!.split(';')) {
    const words = config.split(' ').filter(Boolean);
    const env = Object.fromEntries(
      words.filter((w) => !w.startsWith('--')).map((w) => w.split('=') as [string, string]),
    );
    const nodeArgs = words.filter((w) => w.startsWith('--'));
    const group = `bench-memory-${randomUUID().slice(0, 8)}`;
    await skipToEnd(kafka, group, Topics.stateChanges.name);
    console.log(`${config || '(defaults)'}: publishing ${n} events`);
    await preload(producer, group, n);
    const ends = await highWatermarks(kafka, Topics.stateChanges.name);
    const port = 3700 + Math.floor(Math.random() * 90);
    const { child } = startService(
      'state-sync',
      {
        ...process.env,
        HTTP_PORT: String(port),
        CONSUMER_GROUP: group,
        LOG_LEVEL: 'warn',
        COMMIT_INTERVAL_MS: '100',
        ...env,
      },
      { logFile: path.join(logDir, `${group}.log`), nodeArgs },
    );
    // Throughput and RSS as the anchors bench measures them (committed progress, /proc); V8's view
    // of the heap from the service's own metrics alongside.
    const heap = { heapUsed: 0, heapTotal: 0, external: 0 };
    let phases: Record<string, PhaseTotals> = {};
    const sampler = setInterval(() => {
      void fetch(`http://127.0.0.1:${port}/metrics`)
        .then((r) => r.text())
        .then((text) => {
          phases = phaseTotals(text);
          for (const line of text.split('\n'))
            for (const [k, name] of Object.entries(HEAP_METRICS))
              if (line.startsWith(name + ' ') || line.startsWith(name + '{'))
                heap[k as keyof typeof heap] = Math.max(heap[k as keyof typeof heap], Number(line.split(' ').at(-1)));
        })
        .catch(() => undefined);
    }, 250);
    let figures: BacklogFigures;
    try {
      figures = await measureBacklog(kafka, child, group, Topics.stateChanges.name, ends);
    } finally {
      clearInterval(sampler);
      await stopProcess(child, 30000);
    }
    const row = {
      config: config || '(defaults)',
      ...figures,
      peakHeapUsedMiB: Math.round(heap.heapUsed / MiB),
      peakHeapTotalMiB: Math.round(heap.heapTotal / MiB),
      peakExternalMiB: Math.round(heap.external / MiB),
      // Where a batch's time went (state-sync's own histogram): the next fetch waits for all of it.
      batchPhaseMeanMs: Object.fromEntries(
        Object.entries(phases).map(([phase, t]) => [phase, t.count ? round((t.sum / t.count) * 1000) : 0]),
      ),
      batchPhaseTotalSeconds: Object.fromEntries(Object.entries(phases).map(([phase, t]) => [phase, round(t.sum)])),
    };
    console.log(`  ${JSON.stringify(row)}`);
    rows.push(row);
  }
  await producer.disconnect();
  console.table(rows);
  writeReport('state-sync-memory', {
    events: n,
    rows,
    notes: [
      "events/s and CPU: from the group's first committed progress to its last (as in state-sync-anchors; the first commit comes after the first fetch is handled)",
      'peak RSS from /proc; heap peaks from the V8 metrics the service exports, sampled every 250 ms',
      "batch phases: state-sync's vigil_state_batch_phase_seconds as last sampled (apply, publish, mark; the offset commit is off the batch's path)",
    ],
  });
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`state-sync-memory failed: ${e.message}`);
    process.exit(1);
  },
);

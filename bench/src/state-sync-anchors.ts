#!/usr/bin/env node
// state-sync side by side with what bounds it and what a Kafka user would write instead, in ONE run
// on the same broker and the same input: Kafka's own producer and consumer performance tools, raw
// KafkaJS (consume; consume -> idempotent produce), a Kafka Streams app doing state-sync's job
// (exactly_once_v2 and at_least_once), and state-sync itself.
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { SchemaCodec, Topics, type StateChangeEvent, type TopicDef } from '@vigil/events';
import { createKafkaClient, ensureTopics, EventProducer, highWatermarks } from '@vigil/kafka';
import { errorsToStderr, isolatedTopic, repoRoot, startService, stopProcess } from '@vigil/test-kit';
import Redis from 'ioredis';
import path from 'node:path';
import {
  buildStreamsAnchor,
  logDir,
  measureBacklog,
  runKafkaTool,
  spawnLogged,
  startStreamsAnchor,
  sum,
  type BacklogFigures,
} from './anchor-processes';
import { benchClients, brokers, redisUrl } from './bench-clients';
import { latencyAtRate, redisVisibility, topicVisibility, warmUp } from './latency-probe';
import { selfTimeByPackage, topSelfTime } from './cpu-profile';
import { skipToEnd, startGroupsAt } from './group-offsets';
import { writeReport } from './report';
import { ev } from './state-sync-kit';
import { rdkafkaInstalled, rdkafkaVersion } from './rdkafka-client';

const HELP = `state-sync-anchors: state-sync next to Kafka's perf tools, raw KafkaJS and a Kafka Streams app, one run.

Usage: node bench/dist/state-sync-anchors.js [--events N] [--rates 5000,20000] [--seconds S] [--only LIST]
  --events N      events per backlog run (default 200000): a fresh run, then one with 20% duplicates
  --rates LIST    offered publish rates for the latency runs, events/s (default 5000,20000)
  --seconds S     duration of each latency run (default 10)
  --threads T     Kafka Streams stream threads (default 2, one per core)
  --profile       run state-sync with --cpu-prof; the fresh backlog's profile is summarised
  --only LIST     contenders to run, by key (default all): kafkajs-consume,kafkajs-passthrough,
                  kafkajs-eos,rdkafka-consume,rdkafka-passthrough,rdkafka-eos,streams-eos,
                  streams-alos,state-sync. The rdkafka rows (@confluentinc/kafka-javascript) run
                  when bash bench/install-rdkafka.sh has installed it, and are skipped otherwise.
Env: KAFKA_BROKERS, SCHEMA_REGISTRY_URL, REDIS_URL. Writes bench/results/state-sync-anchors.json.
Needs java and mvn (the Streams app is built with Maven at the broker's Kafka version).`;

const quiet = errorsToStderr;
type Kafka = ReturnType<typeof createKafkaClient>;

/** One line of the table; a figure a row does not have stays undefined and prints as '-'. */
interface Row {
  key: string;
  label: string;
  eventsPerSecond?: number;
  duplicatesEventsPerSecond?: number;
  cpuSecondsPer100k?: number;
  peakRssMiB?: number;
  latencyMs?: Record<string, unknown>;
  [more: string]: unknown;
}

interface Contender {
  key: string;
  label: string;
  group: string;
  start(): import('node:child_process').ChildProcess;
  /** Where an accepted change becomes visible: Redis (state-sync) or an output topic. */
  visible: { redis: true } | { topic: string };
}

async function main() {
  const { values } = parseArgs({
    options: {
      events: { type: 'string', default: '200000' },
      rates: { type: 'string', default: '5000,20000' },
      seconds: { type: 'string', default: '10' },
      threads: { type: 'string', default: '2' },
      only: { type: 'string' },
      profile: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return console.log(HELP);
  const n = Number(values.events);
  const rates = values.rates!.split(',').map(Number);
  const seconds = Number(values.seconds);
  const run = randomUUID().slice(0, 8);
  const { kafka, codec, producer } = benchClients('bench');
  const redis = new Redis(redisUrl());
  const input = Topics.stateChanges.name;
  // Output topics compacted like the changelog; ProducerPerformance's records have no key, so its
  // topic is a plain one like the input.
  const changelogLike = () => isolatedTopic(Topics.stateChangelog);
  const outputs = {
    streamsEos: changelogLike(),
    streamsAlos: changelogLike(),
    producerPerf: isolatedTopic(Topics.stateChanges),
    kafkajsPassthrough: changelogLike(),
    kafkajsEos: changelogLike(),
    rdkafkaPassthrough: changelogLike(),
    rdkafkaEos: changelogLike(),
  };
  await ensureTopics(kafka, undefined, quiet);
  await ensureTopics(kafka, Object.values(outputs) as TopicDef<unknown>[], quiet);
  console.log(`building the Kafka Streams anchor (logs of every process in ${logDir})`);
  buildStreamsAnchor();

  const statePort = 3900 + Math.floor(Math.random() * 90);
  const threads = Number(values.threads);
  const all: Contender[] = [
    ...clientAnchors('kafkajs', 'KafkaJS', outputs.kafkajsPassthrough.name, outputs.kafkajsEos.name),
    ...(rdkafkaInstalled()
      ? clientAnchors('rdkafka', 'rdkafka', outputs.rdkafkaPassthrough.name, outputs.rdkafkaEos.name)
      : []),
    streams('streams-eos', 'Streams exactly_once_v2', outputs.streamsEos.name, 'exactly_once_v2'),
    streams('streams-alos', 'Streams at_least_once', outputs.streamsAlos.name, 'at_least_once'),
    {
      key: 'state-sync',
      label: 'state-sync',
      group: `bench-anchor-${run}-state-sync`,
      start() {
        return startService(
          'state-sync',
          // Commits every 100 ms (default 500) like Streams with exactly_once_v2: the bench sees
          // progress only through commits, and coarser ones would blur the start of the clock.
          {
            ...process.env,
            HTTP_PORT: String(statePort),
            CONSUMER_GROUP: this.group,
            LOG_LEVEL: 'warn',
            COMMIT_INTERVAL_MS: '100',
          },
          {
            logFile: path.join(logDir, `state-sync-${Date.now()}.log`),
            nodeArgs: values.profile ? ['--cpu-prof', `--cpu-prof-dir=${path.join(logDir, `prof-${++profiles}`)}`] : [],
          },
        ).child;
      },
      visible: { redis: true },
    },
  ];
  let profiles = 0;
  const only = values.only?.split(',');
  const contenders = all.filter((c) => !only || only.includes(c.key));
  const missing = only?.filter((k) => !contenders.some((c) => c.key === k)) ?? [];
  if (missing.length) throw new Error(`no contender ${missing.join(', ')} (rdkafka-*: bash bench/install-rdkafka.sh)`);
  if (!rdkafkaInstalled())
    console.log(
      'rdkafka rows skipped: @confluentinc/kafka-javascript is not installed (bash bench/install-rdkafka.sh)',
    );

  /** One client's raw rows: consume, idempotent passthrough, transactional passthrough. */
  function clientAnchors(client: string, name: string, passthroughTopic: string, eosTopic: string): Contender[] {
    const script = path.join(repoRoot, 'bench', 'dist', 'client-anchor.js');
    const anchor = (mode: string, label: string, output?: string): Contender => {
      const key = `${client}-${mode}`;
      const group = `bench-anchor-${run}-${key}`;
      const args = ['--client', client, '--mode', mode, '--group', group, '--input', input];
      return {
        key,
        label: `${name} ${label}`,
        group,
        start: () => spawnLogged(key, process.execPath, [script, ...args, ...(output ? ['--output', output] : [])]),
        visible: { topic: output ?? '' },
      };
    };
    return [
      anchor('consume', 'consume'),
      anchor('passthrough', 'consume->produce', passthroughTopic),
      anchor('eos', 'consume->produce in txns', eosTopic),
    ];
  }
  function streams(key: string, label: string, output: string, g: 'exactly_once_v2' | 'at_least_once'): Contender {
    const group = `bench-anchor-${run}-${key}`;
    return {
      key,
      label,
      group,
      start: () => startStreamsAnchor(key, group, input, output, g, threads),
      visible: { topic: output },
    };
  }

  // Every contender's group starts where this run's input starts: older records in the topic (tests,
  // earlier runs) would be stale for state-sync's Redis and fresh for a new Streams store.
  const start0 = await highWatermarks(kafka, input);
  await startGroupsAt(
    kafka,
    contenders.map((c) => c.group),
    input,
    start0,
  );

  console.log(`publishing ${n} fresh events (${n / 20} entities x 20 versions)`);
  const fresh = freshEvents(`bench-${run}`, n, 1);
  const publishRate = await publish(producer, fresh);
  const endsA = await highWatermarks(kafka, input);
  const valueBytes = await meanValueBytes(codec, fresh);

  console.log('Kafka ProducerPerformance (idempotent, acks=all) and ConsumerPerformance');
  const perfProducer = await producerPerformance(outputs.producerPerf.name, n, valueBytes);
  const perfConsumer = await consumerPerformance(input, sum(endsA) - sum(start0), `bench-anchor-${run}-perf`);

  const backlogFresh: Record<string, BacklogFigures> = {};
  for (const c of contenders) backlogFresh[c.key] = await backlog(kafka, c, input, endsA, 'fresh');

  console.log(`publishing ${n} events of which 20% are duplicates of earlier ones`);
  await publish(producer, withDuplicates(`bench-${run}`, n, fresh));
  const endsB = await highWatermarks(kafka, input);
  const backlogDup: Record<string, BacklogFigures> = {};
  for (const c of contenders) backlogDup[c.key] = await backlog(kafka, c, input, endsB, '20% duplicates');

  const latency: Record<string, Record<string, unknown>> = {};
  for (const c of contenders.filter((c) => 'redis' in c.visible || c.visible.topic)) {
    await skipToEnd(kafka, c.group, input);
    const child = c.start();
    const watch = 'redis' in c.visible ? redisVisibility(redis) : await topicVisibility(kafka, c.visible.topic);
    try {
      latency[c.key] = {};
      // A contender that cannot serve the latency run (it crashed: see its log) gets the reason in
      // its row; the others are still measured.
      const warm = await warmUp(producer, watch, `bench-${run}-warm-${c.key}`).then(
        () => undefined,
        (e: Error) => e.message,
      );
      if (warm || child.exitCode !== null) {
        latency[c.key]!.failed = warm ?? `exited with ${child.exitCode}`;
        console.log(`  ${c.label}: no latency run (${latency[c.key]!.failed})`);
        continue;
      }
      for (const rate of rates)
        latency[c.key]![rate] = await latencyAtRate(producer, watch, `bench-${run}-${c.key}`, rate, seconds);
    } finally {
      await watch.close();
      await stopProcess(child, 60000);
    }
  }
  // The floor: the same offered load seen by the same kind of reader on the input topic itself.
  const floorWatch = await topicVisibility(kafka, input);
  try {
    await warmUp(producer, floorWatch, `bench-${run}-warm-floor`);
    latency.floor = {};
    for (const rate of rates)
      latency.floor[rate] = await latencyAtRate(producer, floorWatch, `bench-${run}-floor`, rate, seconds);
  } finally {
    await floorWatch.close();
  }
  await producer.disconnect();
  redis.disconnect();

  const rows: Row[] = [
    { key: 'kafka-producer-perf', label: 'Kafka ProducerPerformance', ...perfProducer },
    { key: 'kafka-consumer-perf', label: 'Kafka ConsumerPerformance', ...perfConsumer },
    { key: 'floor', label: 'publish->consume, no processing', latencyMs: latency.floor },
    ...contenders.map((c) => ({
      key: c.key,
      label: c.label,
      ...backlogFresh[c.key]!,
      duplicatesEventsPerSecond: backlogDup[c.key]!.eventsPerSecond,
      peakRssMiB: Math.max(backlogFresh[c.key]!.peakRssMiB, backlogDup[c.key]!.peakRssMiB),
      latencyMs: latency[c.key],
    })),
  ];
  const ss = rows.find((r) => r.key === 'state-sync');
  const ratios = ss?.eventsPerSecond
    ? Object.fromEntries(
        rows
          .filter((r) => r.key !== 'state-sync' && r.eventsPerSecond)
          .map((r) => [r.key, Number((ss.eventsPerSecond! / r.eventsPerSecond!).toFixed(3))]),
      )
    : {};
  printTable(rows, rates, ratios);
  writeReport('state-sync-anchors', {
    inputEventsPerRun: n,
    valueBytes,
    benchPublishEventsPerSecond: Math.round(publishRate),
    streamThreads: threads,
    ...(rdkafkaInstalled() ? { librdkafka: rdkafkaVersion() } : {}),
    rows,
    stateSyncOver: ratios,
    ...(values.profile
      ? {
          stateSyncFreshBacklogProfile: {
            byPackage: selfTimeByPackage(path.join(logDir, 'prof-1')),
            topFunctions: topSelfTime(path.join(logDir, 'prof-1')),
          },
        }
      : {}),
    logs: logDir,
    notes: [
      "events/s: a backlog of fresh events, timed from the group's first committed progress to its last (start-up and restore not counted)",
      'dup events/s: a second backlog of the same size in which 20% are re-sent events already applied',
      "latency: publish -> visible (state-sync: the Redis hash's appliedAt; the others: a read_committed consumer of the output topic receives it)",
      'Kafka tools: ProducerPerformance writes n records of the mean value size (idempotent, acks=all); ConsumerPerformance reads the input topic; their latency is their own (produce ack)',
    ],
  });
}

async function backlog(kafka: Kafka, c: Contender, input: string, ends: Map<number, bigint>, what: string) {
  const child = c.start();
  try {
    const figures = await measureBacklog(kafka, child, c.group, input, ends);
    console.log(`  ${c.label} (${what}): ${JSON.stringify(figures)}`);
    return figures;
  } finally {
    await stopProcess(child, 60000);
  }
}

/** n events: n/20 entities with 20 versions each from `firstVersion`, in version order. */
function freshEvents(prefix: string, n: number, firstVersion: number): StateChangeEvent[] {
  const out: StateChangeEvent[] = [];
  for (let v = firstVersion; v < firstVersion + 20; v++)
    for (let e = 0; e < n / 20; e++) out.push(ev(`${prefix}-e${e}`, v));
  return out;
}

/** 80% new versions of the same entities, 20% re-sent copies of `earlier` (as a redelivering agent would). */
function withDuplicates(prefix: string, n: number, earlier: StateChangeEvent[]): StateChangeEvent[] {
  const fresh = freshEvents(prefix, n, 21);
  const out: StateChangeEvent[] = [];
  let d = 0;
  for (let i = 0; i < n; i++) out.push(i % 5 === 4 ? earlier[(d++ * 7919) % earlier.length]! : fresh[i - d]!);
  return out;
}

async function publish(producer: EventProducer, events: StateChangeEvent[]): Promise<number> {
  const t0 = Date.now();
  for (let i = 0; i < events.length; i += 2000)
    await producer.send(
      Topics.stateChanges,
      events.slice(i, i + 2000).map((value) => ({ value })),
    );
  return events.length / ((Date.now() - t0) / 1000);
}

async function meanValueBytes(codec: SchemaCodec, events: StateChangeEvent[]): Promise<number> {
  const sample = events.slice(0, 100);
  const sizes = await Promise.all(sample.map(async (e) => (await codec.encode(Topics.stateChanges, e)).length));
  return Math.round(sizes.reduce((a, b) => a + b, 0) / sizes.length);
}

async function producerPerformance(topic: string, n: number, recordSize: number) {
  const { output, cpuSeconds, peakRssMiB } = await runKafkaTool('ProducerPerformance', [
    '--topic',
    topic,
    '--num-records',
    String(n),
    '--record-size',
    String(recordSize),
    '--throughput',
    '-1',
    '--producer-props',
    `bootstrap.servers=${brokers()}`,
    'acks=all',
    'enable.idempotence=true',
  ]);
  // "N records sent, R records/sec (M MB/sec), A ms avg latency, X ms max latency, P50 ms 50th, ..."
  const summary =
    output
      .split('\n')
      .filter((l) => l.includes(' ms 50th'))
      .at(-1) ?? '';
  const m = /(\d+) records sent, ([\d.]+) records\/sec.*?(\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th/.exec(summary);
  if (!m) throw new Error(`ProducerPerformance printed no summary:\n${output}`);
  return {
    records: Number(m[1]),
    eventsPerSecond: Math.round(Number(m[2])),
    cpuSecondsPer100k: Number(((cpuSeconds / n) * 100_000).toFixed(2)),
    peakRssMiB,
    ownProduceLatencyMs: { p50: Number(m[3]), p95: Number(m[4]), p99: Number(m[5]) },
  };
}

async function consumerPerformance(topic: string, n: number, group: string) {
  const { output, cpuSeconds, peakRssMiB } = await runKafkaTool('ConsumerPerformance', [
    '--bootstrap-server',
    brokers(),
    '--topic',
    topic,
    '--messages',
    String(n),
    '--group',
    group,
    '--timeout',
    '60000',
  ]);
  // A CSV header line, then the values; fetch.nMsg.sec leaves the group join out.
  const lines = output.split('\n').filter((l) => l.includes(','));
  const header = lines.findIndex((l) => l.includes('fetch.nMsg.sec'));
  if (header < 0 || !lines[header + 1]) throw new Error(`ConsumerPerformance printed no figures:\n${output}`);
  const names = lines[header]!.split(',').map((s) => s.trim());
  const vals = lines[header + 1]!.split(',').map((s) => s.trim());
  const get = (k: string) => Number(vals[names.indexOf(k)]);
  return {
    records: get('data.consumed.in.nMsg'),
    eventsPerSecond: Math.round(get('fetch.nMsg.sec')),
    cpuSecondsPer100k: Number(((cpuSeconds / Math.max(1, get('data.consumed.in.nMsg'))) * 100_000).toFixed(2)),
    peakRssMiB,
  };
}

function printTable(rows: Row[], rates: number[], ratios: Record<string, number>) {
  const head = [
    'contender',
    'events/s',
    'dup ev/s',
    ...rates.flatMap((r) => [`p50@${r / 1000}k`, `p99@${r / 1000}k`]),
    'cpu s/100k',
    'peak RSS MiB',
    'state-sync/this',
  ];
  const cell = (v: unknown) => (v === undefined || v === null ? '-' : String(v));
  const body = rows.map((r) => {
    const lat = r.latencyMs as Record<string, { p50: number; p99: number }> | undefined;
    return [
      r.label,
      cell(r.eventsPerSecond),
      cell(r.duplicatesEventsPerSecond),
      ...rates.flatMap((rate) => [cell(lat?.[rate]?.p50), cell(lat?.[rate]?.p99)]),
      cell(r.cpuSecondsPer100k),
      cell(r.peakRssMiB),
      cell(ratios[r.key]),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  for (const line of [head, ...body]) console.log(line.map((c, i) => c.padEnd(widths[i]!)).join('  '));
}

main().catch((e: Error) => {
  console.error(`bench failed: ${e.message}`);
  process.exit(1);
});

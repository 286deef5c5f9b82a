#!/usr/bin/env node
// The heartbeat service as a real process fed by tools/fleet-sim (real SDK agents): detection
// latency with 10k agents at 1 s, and resident memory with 100k tracked agents.
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Topics } from '@vigil/events';
import { ensureTopics } from '@vigil/kafka';
import { leaseKeys } from '@vigil/redis-keys';
import {
  errorsToStderr,
  histogramQuantile,
  percentile,
  repoRoot,
  startFleet,
  startHeartbeat,
  summarize,
  waitUntil,
  watchLiveness,
  type SeenTransition,
} from '@vigil/test-kit';
import { createRedisClient } from '@vigil/platform';
import { benchClients, redisUrl } from './bench-clients';
import { cpuOf, rssOf } from './process-stats';
import { writeReport } from './report';

const HELP = `heartbeat-detection: detection latency at N agents, and RSS with M tracked agents.

Usage: node bench/dist/heartbeat-detection.js [--agents N] [--interval MS] [--rounds R] [--kill K] [--tracked M] [--name S]
  --agents N     agents for the latency phase (default 10000)
  --interval MS  their heartbeat interval (default 1000); a death is due after 3 intervals
  --rounds R     kill rounds (default 5), K agents each (--kill, default 40), 6 s apart
  --tracked M    agents for the memory phase, beating every 10 s (default 100000; 0 skips it)
  --name S       report name (default heartbeat-detection); e.g. a correlated outage, 30% at once:
                 --agents 10000 --rounds 1 --kill 3000 --tracked 0 --name heartbeat-correlated-outage
                 or fast beats: --agents 1000 --interval 100 --tracked 0 --name heartbeat-100ms
Env: KAFKA_BROKERS, SCHEMA_REGISTRY_URL, REDIS_URL. Writes bench/results/<name>.json.
Detection latency = when the unreachable event was read minus the agent's last heartbeat minus
3 intervals (all clocks are this machine's); the service's own broker-time figure is reported too.`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const logFile = (name: string) => {
  const dir = path.join(repoRoot, 'bench/results');
  mkdirSync(dir, { recursive: true });
  return path.join(dir, `${name}.log`);
};

async function main() {
  const { values } = parseArgs({
    options: {
      agents: { type: 'string', default: '10000' },
      interval: { type: 'string', default: '1000' },
      rounds: { type: 'string', default: '5' },
      kill: { type: 'string', default: '40' },
      tracked: { type: 'string', default: '100000' },
      name: { type: 'string', default: 'heartbeat-detection' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const agents = Number(values.agents);
  const rounds = Number(values.rounds);
  const perRound = Number(values.kill);
  const tracked = Number(values.tracked);
  const intervalMs = Number(values.interval);
  if (!Number.isInteger(intervalMs) || intervalMs < 10) throw new Error(`--interval must be an integer >= 10 ms`);
  const dueAfterMs = 3 * intervalMs;
  const { kafka, codec } = benchClients('bench-heartbeat');
  const run = randomUUID().slice(0, 6);
  // On a fresh broker the liveness topic does not exist until a service creates it, and the watcher
  // below subscribes before the service starts.
  await ensureTopics(kafka, undefined, errorsToStderr);

  // --- phase 1: detection latency ----------------------------------------------------------------
  const prefix = `bd${run}`;
  const watch = await watchLiveness(kafka, codec, prefix);
  /** Each agent's transitions, indexed on demand (the watch is a flat list of every event). */
  const byAgent = () => {
    const m = new Map<string, SeenTransition[]>();
    for (const t of watch.seen) m.set(t.agentId, [...(m.get(t.agentId) ?? []), t]);
    return m;
  };

  console.error(`phase 1: ${agents} agents at ${intervalMs} ms, ${rounds} rounds of ${perRound} kills`);
  const hb = await startHeartbeat(
    `bench-heartbeat-${run}`,
    {},
    { logFile: logFile('heartbeat-detection-service'), ownAllPartitions: true },
  );
  const fleet = startFleet({ agents, prefix, intervalMs, agentsPerConnection: 2500 });
  await fleet.waitFor('started', 300000);
  const healthy = () => new Set(watch.to('healthy').map((t) => t.agentId)).size;
  await waitUntil(
    () => {
      process.stderr.write(`\r  registered ${healthy()}/${agents}   `);
      return healthy() >= agents;
    },
    300000,
    'every agent registered',
  );
  process.stderr.write('\n');
  // Steady state first: an agent counts as registered once its first heartbeat is applied, while
  // its partition may still be working through a backlog (seen on a brand-new cluster, where the
  // service's first publishes stalled and a rebalance followed); judgement waits for that.
  await waitUntil(
    async () => (await hb.metricSum('vigil_heartbeat_partition_lag_records{')) === 0,
    300000,
    'the service to catch up on every partition',
  );
  await sleep(5000);
  const restoresBefore = await hb.metricSum('vigil_heartbeat_partition_restores_total');
  const cpu0 = cpuOf(hb.child.pid!);
  const t0 = Date.now();
  let rssPeak = 0;
  const rssTimer = setInterval(() => (rssPeak = Math.max(rssPeak, rssOf(hb.child.pid!))), 500);

  const endToEnd: number[] = [];
  const brokerTime: number[] = [];
  let falseDeaths = 0;
  const victims = new Set<string>();
  for (let r = 0; r < rounds; r++) {
    fleet.send(`kill ${perRound}`);
    const killed = await fleet.waitFor('killed');
    for (const a of killed.agents!) victims.add(a);
    await waitUntil(
      () => killed.agents!.every((a) => watch.of(a).includes('unreachable')),
      30000,
      `round ${r + 1} detections`,
    );
    const round: number[] = [];
    for (const a of killed.agents!) {
      const d = watch.seen.find((t) => t.agentId === a && t.to === 'unreachable')!;
      round.push(d.receivedAt - killed.lastBeats![a]! - dueAfterMs);
      brokerTime.push(d.since - d.lastHeartbeatAt! - dueAfterMs);
    }
    endToEnd.push(...round);
    const r50 = percentile(round, 50);
    console.error(`  round ${r + 1}: ${round.length} detected, p50 ${r50} ms, max ${Math.max(...round)} ms`);
    await sleep(2000);
  }
  const seconds = (Date.now() - t0) / 1000;
  const cpuCores = (cpuOf(hb.child.pid!) - cpu0) / seconds;
  clearInterval(rssTimer);
  const seen = byAgent();
  for (const [agent, list] of seen) {
    if (!victims.has(agent) && list.some((t) => t.to === 'unreachable' || t.to === 'suspect')) falseDeaths += 1;
  }
  // Explain outliers: a judgement hold after a broker gap, or a rebalance (restores), delays detections.
  const brokerGaps = await hb.metricSum('vigil_heartbeat_broker_gaps_total');
  const restores = (await hb.metricSum('vigil_heartbeat_partition_restores_total')) - restoresBefore;
  // The service's own view: from the moment the silence passed the threshold to Kafka's ack.
  const metricName = 'vigil_heartbeat_detection_latency_seconds';
  const serviceMetricMs = {
    count: await hb.metricSum(`${metricName}_count`),
    mean: Math.round(((await hb.metricSum(`${metricName}_sum`)) / (await hb.metricSum(`${metricName}_count`))) * 1000),
    p50: Math.round((await histogramQuantile(hb.port, metricName, 0.5)) * 1000),
    p99: Math.round((await histogramQuantile(hb.port, metricName, 0.99)) * 1000),
  };
  const duplicates = [...victims].filter(
    (a) => (seen.get(a) ?? []).filter((t) => t.to === 'unreachable').length !== 1,
  ).length;
  await hb.stop();
  await fleet.kill();
  await watch.stop();

  const summary = summarize;
  const detection = {
    agents,
    intervalMs,
    missThreshold: 3,
    detections: endToEnd.length,
    endToEndMs: summary(endToEnd),
    serviceBrokerTimeMs: summary(brokerTime),
    serviceMetricUntilAckMs: serviceMetricMs,
    targetP99Ms: 250,
    falseSuspectsOrDeaths: falseDeaths,
    victimsWithOtherThanOneUnreachable: duplicates,
    serviceBrokerGaps: brokerGaps,
    servicePartitionRestoresDuringRounds: restores,
    servicePartitionRestoresBeforeRounds: restoresBefore,
    serviceRssPeakMB: Math.round(rssPeak / 1e6),
    serviceCpuCores: Math.round(cpuCores * 100) / 100,
  };
  console.error(JSON.stringify(detection));

  // --- phase 2: memory with many tracked agents ----------------------------------------------------
  let memory: Record<string, unknown> = { skipped: true };
  if (tracked > 0) {
    console.error(`phase 2: ${tracked} agents beating every 10 s`);
    const hb2 = await startHeartbeat(
      `bench-heartbeat-mem-${run}`,
      {},
      { logFile: logFile('heartbeat-memory-service'), ownAllPartitions: true },
    );
    const fleet2 = startFleet({ agents: tracked, prefix: `bm${run}`, intervalMs: 10000, agentsPerConnection: 10000 });
    await fleet2.waitFor('started', 600000);
    const t1 = Date.now();
    await waitUntil(
      async () => {
        const n = await hb2.metricSum('vigil_heartbeat_agents{');
        process.stderr.write(`\r  tracked ${n}/${tracked}, rss ${Math.round(rssOf(hb2.child.pid!) / 1e6)} MB   `);
        return n >= tracked;
      },
      300000,
      'every agent tracked',
    );
    process.stderr.write('\n');
    const registerSeconds = (Date.now() - t1) / 1000;
    let peak = 0;
    const samples: number[] = [];
    const cpu1 = cpuOf(hb2.child.pid!);
    const t2 = Date.now();
    for (let i = 0; i < 40; i++) {
      const r = rssOf(hb2.child.pid!);
      samples.push(r);
      peak = Math.max(peak, r);
      await sleep(500);
    }
    const memCpuCores = (cpuOf(hb2.child.pid!) - cpu1) / ((Date.now() - t2) / 1000);
    // Where the memory is: V8's spaces and what lives outside the heap (buffers).
    const heap = Object.fromEntries(
      (await (await fetch(`http://127.0.0.1:${hb2.port}/metrics`)).text())
        .split('\n')
        .filter((l) =>
          /^nodejs_(heap_space_size_used_bytes|heap_space_size_total_bytes|external_memory_bytes|heap_size_used_bytes)/.test(
            l,
          ),
        )
        .map((l) => [l.split(' ')[0]!, Math.round(Number(l.split(' ').at(-1)) / 1e6)]),
    );
    const heartbeatsPerSecond = tracked / 10;
    memory = {
      trackedAgents: await hb2.metricSum('vigil_heartbeat_agents{'),
      heartbeatsPerSecond,
      registerSeconds: Math.round(registerSeconds),
      rssPeakMB: Math.round(peak / 1e6),
      rssSettledMB: Math.round(samples.at(-1)! / 1e6),
      serviceCpuCores: Math.round(memCpuCores * 100) / 100,
      heapMB: heap,
      targetMB: 300,
    };
    await hb2.stop();
    await fleet2.kill();
  }
  // The runs' leases are of no use to anyone: remove them from Redis.
  const redis = createRedisClient(redisUrl());
  for (const group of [`bench-heartbeat-${run}`, `bench-heartbeat-mem-${run}`]) {
    for (let p = 0; p < Topics.heartbeats.partitions; p++) {
      const k = leaseKeys(group, p);
      for (const key of [k.leases, k.meta, k.outbox]) await redis.del(key); // one slot each on a Redis Cluster
    }
  }
  redis.disconnect();
  writeReport(values.name!, { detection, memory });
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`heartbeat-detection failed: ${e.message}`);
    process.exit(1);
  },
);

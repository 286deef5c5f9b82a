#!/usr/bin/env node
// The agent SDK from the host's side: how many state changes one agent process makes durable per
// second (the call resolves once the change is fsync'd in the journal), the call-to-durable latency
// at 1,000 publishes/s, and how much of the host's event loop that takes (perf_hooks ELU), with the
// sender delivering to the real broker meanwhile.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { AgentPublisher } from '@vigil/agent-sdk';
import { parseBrokers } from '@vigil/kafka';
import { errorsToStderr, percentile, waitUntil } from '@vigil/test-kit';
import { brokers, registryUrl } from './bench-clients';
import { writeReport } from './report';

const HELP = `sdk-publish: durable publishes/s of one agent, call-to-durable p50/p99 at a fixed rate, host ELU.

Usage: node bench/dist/sdk-publish.js [--seconds S] [--rate R] [--concurrency C]
  --seconds S       length of each phase (default 10)
  --rate R          publishes/s of the latency phase (default 1000)
  --concurrency C   calls in flight in the throughput phase (default 256)
Env: KAFKA_BROKERS, SCHEMA_REGISTRY_URL. Writes bench/results/sdk-publish.json.`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '10' },
      rate: { type: 'string', default: '1000' },
      concurrency: { type: 'string', default: '256' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return console.log(HELP);
  const seconds = Number(values.seconds);
  const rate = Number(values.rate);
  const concurrency = Number(values.concurrency);
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vigil-sdk-bench-'));
  const agentId = `bench-sdk-${process.pid}`;
  const publisher = AgentPublisher.open({
    agentId,
    dataDir,
    brokers: parseBrokers(brokers()),
    registryUrl: registryUrl(),
    logger: errorsToStderr,
  });
  const publish = (i: number) =>
    publisher.publishStateChange({ id: `${agentId}-e${i % 1000}`, type: 'bench' }, 'updated', { i, at: Date.now() });
  try {
    await publish(-1); // connects, registers, opens the journal

    console.log(`throughput: ${concurrency} calls in flight for ${seconds} s`);
    let accepted = 0;
    let refused = 0;
    const until = Date.now() + seconds * 1000;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async (_, w) => {
        for (let i = w; Date.now() < until; i += concurrency) {
          if ((await publish(i)).accepted) accepted++;
          else refused++;
        }
      }),
    );
    const durablePerSecond = accepted / ((performance.now() - t0) / 1000);
    console.log(`  ${Math.round(durablePerSecond)} durable publishes/s (${refused} refused)`);
    await waitUntil(() => publisher.stats().pending === 0, 300000, 'the backlog delivered');

    console.log(`latency: ${rate} publishes/s for ${seconds} s`);
    const latencies: number[] = [];
    const calls: Array<Promise<void>> = [];
    const perTick = Math.max(1, Math.round(rate / 100));
    const elu0 = performance.eventLoopUtilization();
    const start = performance.now();
    for (let tick = 0; performance.now() - start < seconds * 1000; tick++) {
      const due = start + tick * 10;
      if (performance.now() < due) await sleep(due - performance.now());
      for (let k = 0; k < perTick; k++) {
        const called = performance.now();
        calls.push(publish(tick * perTick + k).then(() => void latencies.push(performance.now() - called)));
      }
    }
    await Promise.all(calls);
    const elu = performance.eventLoopUtilization(elu0);
    const achieved = calls.length / ((performance.now() - start) / 1000);
    latencies.sort((a, b) => a - b);
    const round = (x: number | undefined) => (x === undefined ? undefined : Number(x.toFixed(2)));
    const result = {
      durablePublishesPerSecond: Math.round(durablePerSecond),
      refusedInThroughputPhase: refused,
      latencyPhase: {
        offered: rate,
        achieved: Math.round(achieved),
        callToDurableMs: {
          p50: round(percentile(latencies, 50)),
          p99: round(percentile(latencies, 99)),
          max: round(latencies.at(-1)),
        },
        eventLoopUtilization: Number(elu.utilization.toFixed(3)),
      },
      journal: dataDir,
      note: "durable = the call resolved accepted: the change is fdatasync'd in the journal; the sender delivers to Kafka meanwhile",
    };
    writeReport('sdk-publish', result);
  } finally {
    await publisher.close(10000);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((e: Error) => {
  console.error(`bench failed: ${e.message}`);
  process.exit(1);
});

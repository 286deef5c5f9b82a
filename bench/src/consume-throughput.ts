#!/usr/bin/env node
// How much the consumer runner (decode, validate, dead-letter checks, commits, a span per record),
// configured as the services run it, costs next to the raw KafkaJS consume rate: same broker, topic
// and data, one run.
import { parseArgs } from 'node:util';
import { sampleStateChange, Topics, type TopicDef } from '@vigil/events';
import { ConsumerRunner, ensureTopics } from '@vigil/kafka';
import { errorsToStderr, isolatedTopic, waitUntil } from '@vigil/test-kit';
import path from 'node:path';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { benchClients } from './bench-clients';
import { profiled, selfTimeByPackage, topSelfTime } from './cpu-profile';
import { resultsDir, rssSampler, writeReport } from './report';

const HELP = `consume-throughput: raw KafkaJS consume rate (bare, and decoding + validating each record) vs the
@vigil/kafka ConsumerRunner as the services configure it.

Usage: node bench/dist/consume-throughput.js [--records N] [--partitions P] [--profile]
  --records N      records to produce and consume (default 200000)
  --partitions P   partitions of the bench topic (default 12)
  --profile        profile the runner's first run (commits every 500 ms); its top functions are
                   printed and written with the figures (bench/results/consume-throughput-profile/)
Env: KAFKA_BROKERS, SCHEMA_REGISTRY_URL. Writes bench/results/consume-throughput.json.`;

const quiet = errorsToStderr;

async function main() {
  const { values } = parseArgs({
    options: {
      records: { type: 'string', default: '200000' },
      partitions: { type: 'string', default: '12' },
      profile: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return console.log(HELP);
  const n = Number(values.records);
  const partitions = Number(values.partitions);
  const { kafka, codec, producer } = benchClients('bench');
  const topic = isolatedTopic(Topics.stateChanges, { partitions });
  await ensureTopics(kafka, [topic, topic.dlq!] as TopicDef<unknown>[], quiet);

  console.log(`producing ${n} records to ${topic.name} (${partitions} partitions)`);
  const t0 = Date.now();
  const chunk = 2000;
  for (let i = 0; i < n; i += chunk) {
    const records = await Promise.all(
      Array.from({ length: Math.min(chunk, n - i) }, async (_, j) => {
        const e = sampleStateChange(`entity-${(i + j) % 5000}`, i + j + 1);
        return { key: e.entityId, value: await codec.encode(topic, e) };
      }),
    );
    await producer.sendRaw(topic.name, records);
    if ((i / chunk) % 20 === 0) console.log(`  produced ${i + records.length}/${n}`);
  }
  const produceSeconds = (Date.now() - t0) / 1000;

  // A plain KafkaJS consumer of the topic from its start, in a group of its own, auto-committing.
  type RunConfig = NonNullable<Parameters<ReturnType<typeof kafka.consumer>['run']>[0]>;
  type EachBatch = NonNullable<RunConfig['eachBatch']>;
  const rawConsumer = async (label: string, eachBatch: EachBatch) => {
    const consumer = kafka.consumer({ groupId: `bench-${label}-${Date.now()}` });
    await consumer.connect();
    await consumer.subscribe({ topic: topic.name, fromBeginning: true });
    await consumer.run({ eachBatch });
    return () => consumer.disconnect();
  };

  // Raw: KafkaJS eachBatch, no decode, auto-commit; the ceiling for this broker and machine.
  const raw = await timeConsumption(n, async (onRecords) =>
    rawConsumer('raw', async ({ batch }) => onRecords(batch.messages.length)),
  );
  console.log(`raw KafkaJS: ${raw.rate.toFixed(0)} records/s`);

  // Raw plus the least any reader of the contract must do per record: decode the Avro value and
  // validate it. What the runner costs beyond this is its own (records, spans, dead-letter checks).
  const decoded = await timeConsumption(n, async (onRecords) => {
    let invalid = 0;
    const disconnect = await rawConsumer('decode', async ({ batch }) => {
      for (const m of batch.messages) {
        const outcome = codec.decodeKnown(topic, m.value) ?? (await codec.decode(topic, m.value));
        if (!outcome.ok || topic.validate?.(outcome.value, Number(m.timestamp))) invalid++;
      }
      onRecords(batch.messages.length);
    });
    return async () => {
      await disconnect();
      if (invalid > 0) throw new Error(`${invalid} records did not decode or validate`);
    };
  });
  console.log(`raw KafkaJS + decode + validate: ${decoded.rate.toFixed(0)} records/s`);

  // The runner as the services run it: 12 partitions at once (CONSUMER_CONCURRENCY's default), and
  // once committing every 500 ms off the batches' path (state-sync), once after every batch (the others).
  const runnerAs = (label: string, options: { commitIntervalMs?: number }) =>
    timeConsumption(n, async (onRecords) => {
      const runner = new ConsumerRunner({
        kafka,
        codec,
        producer,
        groupId: `bench-runner-${label}-${Date.now()}`,
        logger: quiet,
        partitionsConsumedConcurrently: 12,
        ...options,
        subscriptions: [{ topic, handler: async (records: unknown[]) => onRecords(records.length) }] as never,
      });
      await runner.start();
      return () => runner.stop();
    });
  const profileDir = path.join(resultsDir(), 'consume-throughput-profile');
  const runnerResult = values.profile
    ? await profiled(profileDir, () => runnerAs('interval', { commitIntervalMs: 500 }))
    : await runnerAs('interval', { commitIntervalMs: 500 });
  console.log(`ConsumerRunner, commits every 500 ms: ${runnerResult.rate.toFixed(0)} records/s`);
  const perBatch = await runnerAs('per-batch', {});
  console.log(`ConsumerRunner, a commit after every batch: ${perBatch.rate.toFixed(0)} records/s`);
  await producer.disconnect();

  writeReport('consume-throughput', {
    records: n,
    partitions,
    produceRecordsPerSecond: Math.round(n / produceSeconds),
    rawKafkajsRecordsPerSecond: Math.round(raw.rate),
    consumerRunnerRecordsPerSecond: Math.round(runnerResult.rate),
    ratio: Number((runnerResult.rate / raw.rate).toFixed(3)),
    rawDecodeValidateRecordsPerSecond: Math.round(decoded.rate),
    ratioToRawDecodeValidate: Number((runnerResult.rate / decoded.rate).toFixed(3)),
    consumerRunnerCommitPerBatchRecordsPerSecond: Math.round(perBatch.rate),
    ratioCommitPerBatch: Number((perBatch.rate / raw.rate).toFixed(3)),
    eventLoopUtilisation: {
      raw: raw.eventLoopUtilisation,
      rawDecodeValidate: decoded.eventLoopUtilisation,
      runner: runnerResult.eventLoopUtilisation,
      runnerCommitPerBatch: perBatch.eventLoopUtilisation,
    },
    rawPeakRssMiB: raw.peakRssMiB,
    runnerPeakRssMiB: runnerResult.peakRssMiB,
    runnerCommitPerBatchPeakRssMiB: perBatch.peakRssMiB,
    ...(values.profile
      ? { runnerProfile: { byPackage: selfTimeByPackage(profileDir), topFunctions: topSelfTime(profileDir, 25) } }
      : {}),
    note: 'rates are measured from the first record to the last, so the group join is not counted',
  });
}

/**
 * Consumes n records; the rate is timed from the first record to the last, and so is the event loop's
 * utilisation: near 1, the consumer is bound by its own CPU; well below, by waiting on fetches.
 */
async function timeConsumption(n: number, start: (onRecords: (count: number) => void) => Promise<() => Promise<void>>) {
  let count = 0;
  let first = 0;
  let last = 0;
  let eluAtFirst: EventLoopUtilization | undefined;
  let elu: EventLoopUtilization | undefined;
  const rss = rssSampler();
  const stop = await start((c) => {
    if (first === 0) {
      first = Date.now();
      eluAtFirst = performance.eventLoopUtilization();
    }
    count += c;
    last = Date.now();
    if (count >= n && !elu) elu = performance.eventLoopUtilization(eluAtFirst);
  });
  await waitUntil(() => count >= n, 600000, `${n} records (got ${count})`);
  await stop();
  rss.stop();
  return {
    rate: count / Math.max(0.001, (last - first) / 1000),
    peakRssMiB: Math.round(rss.peak() / 2 ** 20),
    eventLoopUtilisation: Number((elu?.utilization ?? 0).toFixed(2)),
  };
}

main().catch((e: Error) => {
  console.error(`bench failed: ${e.message}`);
  process.exit(1);
});

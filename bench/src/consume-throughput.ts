#!/usr/bin/env node
// How much the consumer runner (decode, validate, dead-letter checks, commit per batch, a span per
// record) costs next to the raw KafkaJS consume rate, on the same broker, topic and data, in one run.
import { parseArgs } from 'node:util';
import { sampleStateChange, Topics, type TopicDef } from '@vigil/events';
import { ConsumerRunner, ensureTopics } from '@vigil/kafka';
import { errorsToStderr, isolatedTopic, waitUntil } from '@vigil/test-kit';
import { benchClients } from './bench-clients';
import { rssSampler, writeReport } from './report';

const HELP = `consume-throughput: raw KafkaJS consume rate vs the libs/events ConsumerRunner.

Usage: node bench/dist/consume-throughput.js [--records N] [--partitions P]
  --records N      records to produce and consume (default 200000)
  --partitions P   partitions of the bench topic (default 12)
Env: KAFKA_BROKERS, SCHEMA_REGISTRY_URL. Writes bench/results/consume-throughput.json.`;

const quiet = errorsToStderr;

async function main() {
  const { values } = parseArgs({
    options: {
      records: { type: 'string', default: '200000' },
      partitions: { type: 'string', default: '12' },
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

  // Raw: KafkaJS eachBatch, no decode, auto-commit; the ceiling for this broker and machine.
  const raw = await timeConsumption(n, async (onRecords) => {
    const consumer = kafka.consumer({ groupId: `bench-raw-${Date.now()}` });
    await consumer.connect();
    await consumer.subscribe({ topic: topic.name, fromBeginning: true });
    await consumer.run({ eachBatch: async ({ batch }) => onRecords(batch.messages.length) });
    return () => consumer.disconnect();
  });
  console.log(`raw KafkaJS: ${raw.rate.toFixed(0)} records/s`);

  const runnerResult = await timeConsumption(n, async (onRecords) => {
    const runner = new ConsumerRunner({
      kafka,
      codec,
      producer,
      groupId: `bench-runner-${Date.now()}`,
      logger: quiet,
      subscriptions: [{ topic, handler: async (records: unknown[]) => onRecords(records.length) }] as never,
    });
    await runner.start();
    return () => runner.stop();
  });
  console.log(`ConsumerRunner: ${runnerResult.rate.toFixed(0)} records/s`);
  await producer.disconnect();

  writeReport('consume-throughput', {
    records: n,
    partitions,
    produceRecordsPerSecond: Math.round(n / produceSeconds),
    rawKafkajsRecordsPerSecond: Math.round(raw.rate),
    consumerRunnerRecordsPerSecond: Math.round(runnerResult.rate),
    ratio: Number((runnerResult.rate / raw.rate).toFixed(3)),
    rawPeakRssMiB: raw.peakRssMiB,
    runnerPeakRssMiB: runnerResult.peakRssMiB,
    note: 'rates are measured from the first record to the last, so the group join is not counted',
  });
}

async function timeConsumption(n: number, start: (onRecords: (count: number) => void) => Promise<() => Promise<void>>) {
  let count = 0;
  let first = 0;
  let last = 0;
  const rss = rssSampler();
  const stop = await start((c) => {
    if (first === 0) first = Date.now();
    count += c;
    last = Date.now();
  });
  await waitUntil(() => count >= n, 600000, `${n} records (got ${count})`);
  await stop();
  rss.stop();
  return { rate: count / Math.max(0.001, (last - first) / 1000), peakRssMiB: Math.round(rss.peak() / 2 ** 20) };
}

main().catch((e: Error) => {
  console.error(`bench failed: ${e.message}`);
  process.exit(1);
});

#!/usr/bin/env node
// The raw KafkaJS anchors of state-sync-anchors, as their own process so that their CPU and memory
// are measured like state-sync's: consume only, or consume -> produce to a second topic with the
// producer settings state-sync needs (idempotent, acks=all). Commits after every batch.
import { parseArgs } from 'node:util';
import { createKafkaClient, parseBrokers } from '@vigil/kafka';
import { errorsToStderr } from '@vigil/test-kit';

const HELP = `kafkajs-anchor: raw KafkaJS consume or consume->produce passthrough, until SIGTERM.

Usage: node bench/dist/kafkajs-anchor.js --mode consume|passthrough --group G --input TOPIC [--output TOPIC]
  --concurrency N   partitionsConsumedConcurrently (default 12, as state-sync)
Env: KAFKA_BROKERS.`;

async function main() {
  const { values } = parseArgs({
    options: {
      mode: { type: 'string' },
      group: { type: 'string' },
      input: { type: 'string' },
      output: { type: 'string' },
      concurrency: { type: 'string', default: '12' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return console.log(HELP);
  const { mode, group, input, output } = values;
  if (!group || !input || (mode !== 'consume' && mode !== 'passthrough') || (mode === 'passthrough' && !output))
    throw new Error(`bad arguments\n${HELP}`);
  const kafka = createKafkaClient({
    brokers: parseBrokers(process.env.KAFKA_BROKERS ?? '127.0.0.1:9092'),
    clientId: `anchor-${mode}`,
    logger: errorsToStderr,
  });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  if (mode === 'passthrough') await producer.connect();
  const consumer = kafka.consumer({ groupId: group, allowAutoTopicCreation: false });
  // A crashed consumer stays connected and idle: the bench would wait for it to its timeout.
  consumer.on(consumer.events.CRASH, (e) => {
    console.error(`consumer crashed: ${e.payload.error.message}`);
    process.exit(1);
  });
  await consumer.connect();
  await consumer.subscribe({ topic: input, fromBeginning: true });
  await consumer.run({
    partitionsConsumedConcurrently: Number(values.concurrency),
    eachBatch: async ({ batch }) => {
      if (mode !== 'passthrough') return;
      // A fetch holds up to 1 MiB per partition, the broker takes at most 1 MiB per request: halves.
      for (let i = 0; i < batch.messages.length; i += 2500)
        await producer.send({
          topic: output!,
          acks: -1,
          messages: batch.messages.slice(i, i + 2500).map((m) => ({ key: m.key, value: m.value, headers: m.headers })),
        });
    },
  });
  const stop = () => {
    void Promise.all([consumer.disconnect(), producer.disconnect()]).finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((e: Error) => {
  console.error(`kafkajs-anchor failed: ${e.message}`);
  process.exit(1);
});

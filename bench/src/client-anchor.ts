#!/usr/bin/env node
// The raw Kafka-client anchors of state-sync-anchors, as their own process so that their CPU and
// memory are measured like state-sync's: consume only; consume -> produce to a second topic with the
// producer settings state-sync needs (idempotent, hence acks=all); or consume -> produce in one transaction
// per batch with the batch's offsets, state-sync's exactly-once skeleton without Redis.
// The same loop runs on KafkaJS or on @confluentinc/kafka-javascript (librdkafka behind a
// KafkaJS-compatible API, installed by bench/install-rdkafka.sh), so the two clients are compared on
// the same work.
import { parseArgs } from 'node:util';
import { createKafkaClient, parseBrokers } from '@vigil/kafka';
import { errorsToStderr } from '@vigil/test-kit';
import { loadRdkafka, type AnchorConsumer, type AnchorProducer, type AnchorBatch } from './rdkafka-client';

const HELP = `client-anchor: a Kafka client consuming, or consuming and producing, until SIGTERM.

Usage: node bench/dist/client-anchor.js --client kafkajs|rdkafka --mode consume|passthrough|eos
         --group G --input TOPIC [--output TOPIC]
  --client C        kafkajs, or rdkafka (@confluentinc/kafka-javascript; bash bench/install-rdkafka.sh)
  --mode M          consume; passthrough (idempotent producer, acks=all); eos (one transaction per
                    batch, its offsets sent in the transaction; transactions run one at a time)
  --concurrency N   partitions consumed concurrently (default 12, as state-sync)
Env: KAFKA_BROKERS.`;

const MODES = ['consume', 'passthrough', 'eos'] as const;
type Mode = (typeof MODES)[number];

interface Clients {
  consumer: AnchorConsumer;
  producer: AnchorProducer;
  /** How a transaction hands over the batch's offsets: by group id (KafkaJS) or by consumer (librdkafka). */
  offsetsOwner: { consumerGroupId: string } | { consumer: unknown };
}

function kafkajsClients(mode: Mode, group: string): Clients {
  const kafka = createKafkaClient({
    brokers: parseBrokers(process.env.KAFKA_BROKERS ?? '127.0.0.1:9092'),
    clientId: `anchor-${mode}`,
    logger: errorsToStderr,
  });
  const producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    ...(mode === 'eos' ? { transactionalId: `anchor-eos-${group}` } : {}),
  });
  const consumer = kafka.consumer({ groupId: group, allowAutoTopicCreation: false });
  // A crashed consumer stays connected and idle: the bench would wait for it to its timeout.
  consumer.on(consumer.events.CRASH, (e) => {
    console.error(`consumer crashed: ${e.payload.error.message}`);
    process.exit(1);
  });
  return {
    consumer: {
      connect: () => consumer.connect(),
      disconnect: () => consumer.disconnect(),
      subscribe: (topic) => consumer.subscribe({ topic, fromBeginning: true }),
      run: (concurrency, eachBatch) =>
        consumer.run({
          autoCommit: mode !== 'eos',
          partitionsConsumedConcurrently: concurrency,
          eachBatch: ({ batch }) => eachBatch(batch),
        }),
    },
    producer: producer as unknown as AnchorProducer,
    offsetsOwner: { consumerGroupId: group },
  };
}

function rdkafkaClients(mode: Mode, group: string): Clients {
  const { Kafka, logLevel } = loadRdkafka();
  const kafka = new Kafka({
    kafkaJS: {
      brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
      clientId: `anchor-${mode}`,
      logLevel: logLevel.ERROR,
    },
  });
  const producer = kafka.producer({
    kafkaJS: { idempotent: true, acks: -1, ...(mode === 'eos' ? { transactionalId: `anchor-eos-${group}` } : {}) },
  });
  // Offsets are committed every 100 ms, as state-sync does in the bench: the bench sees progress
  // only through commits. Batches are as large as a fetch brings (KafkaJS's are, too).
  const consumer = kafka.consumer({
    kafkaJS: { groupId: group, fromBeginning: true, autoCommit: mode !== 'eos', autoCommitInterval: 100 },
    'js.consumer.max.batch.size': -1,
  });
  return {
    consumer: {
      connect: () => consumer.connect(),
      disconnect: () => consumer.disconnect(),
      subscribe: (topic) => consumer.subscribe({ topics: [topic] }),
      run: (concurrency, eachBatch) =>
        consumer.run({ partitionsConsumedConcurrently: concurrency, eachBatch: ({ batch }) => eachBatch(batch) }),
    },
    producer,
    offsetsOwner: { consumer },
  };
}

async function main() {
  const { values } = parseArgs({
    options: {
      client: { type: 'string', default: 'kafkajs' },
      mode: { type: 'string' },
      group: { type: 'string' },
      input: { type: 'string' },
      output: { type: 'string' },
      concurrency: { type: 'string', default: '12' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return console.log(HELP);
  const { group, input, output } = values;
  const mode = values.mode as Mode;
  if (!group || !input || !MODES.includes(mode) || (mode !== 'consume' && !output))
    throw new Error(`bad arguments\n${HELP}`);
  if (values.client !== 'kafkajs' && values.client !== 'rdkafka') throw new Error(`bad --client\n${HELP}`);
  const { consumer, producer, offsetsOwner } = (values.client === 'kafkajs' ? kafkajsClients : rdkafkaClients)(
    mode,
    group,
  );
  if (mode !== 'consume') await producer.connect();
  await consumer.connect();
  await consumer.subscribe(input);
  // One transactional producer has one transaction open at a time: batches of concurrently consumed
  // partitions queue for it.
  let transactions = Promise.resolve();
  const forward = (batch: AnchorBatch) => {
    const records = batch.messages.map((m) => ({ key: m.key, value: m.value, headers: m.headers }));
    // A fetch holds up to 1 MiB per partition, the broker takes at most 1 MiB per request: halves.
    const chunks = [];
    for (let i = 0; i < records.length; i += 2500) chunks.push(records.slice(i, i + 2500));
    return chunks;
  };
  // librdkafka's compatible consumer logs a failed batch and delivers it again, forever: a bench
  // would wait on it to its timeout, so a failure ends the anchor, with its reason.
  await consumer.run(Number(values.concurrency), (batch) =>
    handle(batch).catch((e: Error) => {
      console.error(`client-anchor: a batch of ${batch.topic}[${batch.partition}] failed: ${e.message}`);
      process.exit(1);
    }),
  );
  async function handle(batch: AnchorBatch) {
    if (mode === 'consume' || batch.messages.length === 0) return;
    if (mode === 'passthrough') {
      for (const messages of forward(batch)) await producer.send({ topic: output!, messages });
      return;
    }
    const next = String(BigInt(batch.messages[batch.messages.length - 1]!.offset) + 1n);
    const turn = transactions.then(async () => {
      const txn = await producer.transaction();
      try {
        for (const messages of forward(batch)) await txn.send({ topic: output!, messages });
        await txn.sendOffsets({
          ...offsetsOwner,
          topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next }] }],
        });
        await txn.commit();
      } catch (e) {
        await txn.abort().catch(() => undefined);
        throw e;
      }
    });
    transactions = turn.catch(() => undefined);
    await turn;
  }
  const stop = () => {
    void Promise.all([consumer.disconnect(), producer.disconnect()]).finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((e: Error) => {
  console.error(`client-anchor failed: ${e.message}`);
  process.exit(1);
});

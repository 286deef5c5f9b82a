import { randomUUID } from 'node:crypto';
import type { KafkaMessage } from 'kafkajs';
import { KafkaAdminFacade } from './admin';
import type { KafkaClient } from './kafka-client';
import { onSkippedBatches } from './skipped-batches';

export interface PartitionRange {
  partition: number;
  /** First offset to read (inclusive). */
  from: bigint;
  /** Offset to stop at (exclusive), e.g. the high watermark read just before. */
  to: bigint;
}

/**
 * Reads fixed offset ranges of a topic's partitions, e.g. a changelog's tail after a checkpoint.
 * KafkaJS has no manual assignment, so this joins a throwaway group, seeks each partition to its
 * start and pauses the partitions it does not need. Commits nothing. `idleTimeoutMs` bounds a
 * stall, not the whole read: a read of millions of records may take minutes while it progresses.
 */
export async function readPartitionRanges(
  kafka: KafkaClient,
  topic: string,
  ranges: PartitionRange[],
  onMessage: (partition: number, message: KafkaMessage) => void | Promise<void>,
  idleTimeoutMs = 60000,
): Promise<void> {
  const wanted = new Map(ranges.filter((r) => r.to > r.from).map((r) => [r.partition, r]));
  if (wanted.size === 0) return;
  const consumer = kafka.consumer({ groupId: `vigil-reader-${randomUUID()}`, allowAutoTopicCreation: false });
  const done = new Set<number>();
  let progressedAt = Date.now();
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  await consumer.connect();
  try {
    const reached = (partition: number, next: bigint) => {
      const range = wanted.get(partition);
      if (!range || next < range.to) return;
      done.add(partition);
      if (done.size === wanted.size) finish();
    };
    // A range that ends in a transaction's commit marker ends with a batch that reaches no handler.
    onSkippedBatches(consumer, (t, partition, next) => {
      if (t !== topic) return;
      progressedAt = Date.now();
      reached(partition, next);
    });
    await consumer.subscribe({ topic, fromBeginning: true });
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      const assigned = e.payload.memberAssignment[topic] ?? [];
      const unwanted = assigned.filter((p) => !wanted.has(p));
      if (unwanted.length > 0) consumer.pause([{ topic, partitions: unwanted }]);
      for (const r of wanted.values()) consumer.seek({ topic, partition: r.partition, offset: r.from.toString() });
    });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const range = wanted.get(batch.partition);
        if (!range || done.has(batch.partition)) return;
        progressedAt = Date.now();
        for (const m of batch.messages) {
          const offset = BigInt(m.offset);
          if (offset < range.from) continue;
          if (offset >= range.to) break;
          await onMessage(batch.partition, m);
        }
        reached(batch.partition, BigInt(batch.lastOffset()) + 1n);
      },
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      finished,
      new Promise((_, reject) => {
        timer = setInterval(
          () => {
            if (Date.now() - progressedAt > idleTimeoutMs)
              reject(new Error(`reading ${topic} ranges stalled: nothing read for ${idleTimeoutMs} ms`));
          },
          Math.min(1000, idleTimeoutMs),
        );
      }),
    ]).finally(() => clearInterval(timer));
  } finally {
    // Bounded: leaving the throwaway group can hang while the broker is away, and a read that never
    // returns would hold up whoever waits for it (a partition paused until its restore ends).
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      consumer.disconnect().catch(() => undefined),
      new Promise((r) => (timer = setTimeout(r, 10_000))),
    ]).finally(() => clearTimeout(timer));
  }
}

/** The high watermark (next offset to be written) of each partition, on a connection of its own. */
export async function highWatermarks(kafka: KafkaClient, topic: string): Promise<Map<number, bigint>> {
  const admin = new KafkaAdminFacade(kafka, 30000);
  try {
    return await admin.highWatermarks(topic);
  } finally {
    await admin.close();
  }
}

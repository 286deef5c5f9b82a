import type { KafkaConsumer } from './kafka-client';

/**
 * Calls `onSkipped` for each fetched batch that held nothing to hand over: only transaction markers
 * (a transactional writer's commits and aborts) or aborted records. KafkaJS moves its position past
 * such a batch itself but never calls eachBatch for it, so whoever tracks progress by the batches it
 * handles (a commit, the end of a range) must hear of it here, or stay a marker behind for good.
 * `next` is the offset after the batch: where reading goes on.
 */
export function onSkippedBatches(
  consumer: KafkaConsumer,
  onSkipped: (topic: string, partition: number, next: bigint) => void,
): void {
  consumer.on(consumer.events.END_BATCH_PROCESS, (e) => {
    const { topic, partition, batchSize, lastOffset } = e.payload;
    if (batchSize === 0) onSkipped(topic, partition, BigInt(lastOffset) + 1n);
  });
}

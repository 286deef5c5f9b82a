import type { Batch, KafkaMessage } from 'kafkajs';
import type { DeadLetter, TopicDef } from '@vigil/events';
import type { EventsLogger } from './logger';
import type { EventsMetrics } from './metrics';
import type { EventProducer } from './producer';
import type { Rejected } from './record-admission';

/**
 * Where refused records go: 'topic' writes them to `<topic>.dlq` with the reason; 'log' only logs
 * and counts them. Either way each gets a metric and a log line.
 */
export class DeadLetterWriter {
  constructor(
    private readonly options: {
      deadLetters?: 'topic' | 'log';
      producer?: EventProducer;
      groupId: string;
      logger: EventsLogger;
      metrics?: EventsMetrics;
    },
  ) {}

  async write(def: TopicDef<unknown>, batch: Batch, rejected: Rejected[]): Promise<void> {
    if (rejected.length === 0) return;
    if (this.options.deadLetters === 'log') {
      for (const { message, reason, error } of rejected) {
        this.options.metrics?.deadLetters.inc({ topic: batch.topic, reason });
        this.options.logger.warn(
          { topic: batch.topic, partition: batch.partition, offset: message.offset, reason, error },
          'record refused (logged, not dead-lettered)',
        );
      }
      return;
    }
    if (!def.dlq) throw new Error(`${def.name} has no dead-letter topic`);
    if (!this.options.producer) throw new Error('a dead-letter topic needs a producer');
    const now = Date.now();
    const letters: DeadLetter[] = rejected.map(({ message, reason, error }) => ({
      topic: batch.topic,
      partition: batch.partition,
      offset: Number(message.offset),
      key: message.key ?? null,
      value: message.value ?? null,
      headers: headerBytes(message.headers),
      timestamp: Number(message.timestamp),
      reason,
      error,
      consumerGroup: this.options.groupId,
      failedAt: now,
    }));
    await this.options.producer.send(
      def.dlq,
      letters.map((value) => ({ value })),
    );
    for (const l of letters) {
      this.options.metrics?.deadLetters.inc({ topic: l.topic, reason: l.reason });
      this.options.logger.warn(
        { topic: l.topic, partition: l.partition, offset: l.offset, reason: l.reason, error: l.error },
        'record dead-lettered',
      );
    }
  }
}

function headerBytes(headers: KafkaMessage['headers']): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    if (v === undefined) continue;
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) out[k] = Buffer.isBuffer(first) ? first : Buffer.from(first);
  }
  return out;
}

import type { SchemaCodec } from '@vigil/events';
import type { KafkaClient } from './kafka-client';
import { EventProducer, type EventProducerOptions } from './producer';

/**
 * Several idempotent producers, each partition always served by the same one. An idempotent KafkaJS
 * producer keeps one request in flight (what keeps a partition's order across retries), so one
 * producer serialises every partition behind the slowest send; a pool lets partitions' sends
 * overlap while each partition still sees one producer, one sequence and its order.
 */
export class EventProducerPool {
  private readonly producers: EventProducer[];

  constructor(kafka: KafkaClient, codec: SchemaCodec, size: number, options: EventProducerOptions = {}) {
    if (!Number.isInteger(size) || size < 1)
      throw new Error(`a producer pool needs at least one producer, not ${size}`);
    this.producers = Array.from({ length: size }, () => new EventProducer(kafka, codec, options));
  }

  get size(): number {
    return this.producers.length;
  }

  /** The producer of this partition: the same one for the pool's lifetime. */
  forPartition(partition: number): EventProducer {
    return this.producers[partition % this.producers.length]!;
  }

  async connect(): Promise<void> {
    await Promise.all(this.producers.map((p) => p.connect()));
  }

  async disconnect(): Promise<void> {
    await Promise.all(this.producers.map((p) => p.disconnect()));
  }
}

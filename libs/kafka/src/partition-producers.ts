import type { SchemaCodec } from '@vigil/events';
import type { KafkaClient } from './kafka-client';
import { EventProducer, type EventProducerOptions } from './producer';
import { withRetries } from './retries';

/**
 * One transactional producer per partition an instance owns, its transactional id
 * `<idPrefix>-<partition>` the same on every instance: whoever takes a partition over fences the
 * id, and from then on the previous owner (crashed, or paused past its session and resumed, not yet
 * aware it lost the partition) can no longer commit a transaction there. Each partition's sends also
 * overlap with the others' instead of queueing behind one producer's single request in flight.
 */
export class PartitionProducers {
  private readonly producers = new Map<number, EventProducer>();
  /** The fence of each partition under way: its sends wait for it. */
  private readonly fencing = new Map<number, Promise<EventProducer>>();

  constructor(
    private readonly kafka: KafkaClient,
    private readonly codec: SchemaCodec,
    private readonly idPrefix: string,
    private readonly options: Omit<EventProducerOptions, 'transactionalId'> = {},
  ) {}

  /** The transactional id of a partition's producer. */
  transactionalId(partition: number): string {
    return `${this.idPrefix}-${partition}`;
  }

  /**
   * A new producer for the partition, registered with the broker: every earlier producer of its id,
   * here or elsewhere, is fenced and its open transaction aborted when this resolves.
   */
  async fence(partition: number): Promise<void> {
    const previous = this.producers.get(partition);
    this.producers.delete(partition);
    const fenced = (async () => {
      await previous?.disconnect().catch(() => undefined);
      const producer = new EventProducer(this.kafka, this.codec, {
        ...this.options,
        transactionalId: this.transactionalId(partition),
      });
      try {
        // On a broker's first transactional id, Kafka creates its transaction log first: the
        // coordinator answers "not available" for a while, longer than KafkaJS's own retries.
        await withRetries(`fencing ${this.transactionalId(partition)}`, () => producer.fence(), { timeoutMs: 60_000 });
      } catch (e) {
        await producer.disconnect().catch(() => undefined);
        throw e;
      }
      return producer;
    })();
    this.fencing.set(partition, fenced);
    try {
      this.producers.set(partition, await fenced);
    } finally {
      if (this.fencing.get(partition) === fenced) this.fencing.delete(partition);
    }
  }

  /** The partition's producer; only after a fence of it (a send without one would fence nobody). */
  async forPartition(partition: number): Promise<EventProducer> {
    const producer = this.producers.get(partition) ?? (await this.fencing.get(partition));
    if (!producer) throw new Error(`changelog partition ${partition} has no fenced producer here`);
    return producer;
  }

  /** A partition this instance no longer owns: its producer goes (its next owner fences the id anyway). */
  async release(partition: number): Promise<void> {
    const producer = this.producers.get(partition);
    this.producers.delete(partition);
    await producer?.disconnect().catch(() => undefined);
  }

  async disconnect(): Promise<void> {
    const all = [...this.producers.values()];
    this.producers.clear();
    await Promise.all(all.map((p) => p.disconnect().catch(() => undefined)));
  }
}

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
  /**
   * Per partition, its producer as of the last fence or release asked for. Each fence or release of
   * a partition runs after the one before it, so two fences never both keep a producer and a release
   * during a fence leaves none behind: every producer made here is either current or disconnected.
   */
  private readonly current = new Map<number, Promise<EventProducer | undefined>>();

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
    await this.queue(partition, async (previous) => {
      await previous?.disconnect().catch(() => undefined);
      const producer = new EventProducer(this.kafka, this.codec, {
        ...this.options,
        transactionalId: this.transactionalId(partition),
      });
      try {
        // On a broker's first transactional id, Kafka creates its transaction log first: the
        // coordinator answers "not available" for a while, longer than KafkaJS's own retries.
        await withRetries(`fencing ${this.transactionalId(partition)}`, () => producer.fence(), {
          timeoutMs: 60_000,
          lostConnections: true,
        });
      } catch (e) {
        await producer.disconnect().catch(() => undefined);
        throw e;
      }
      return producer;
    });
  }

  /** The partition's producer; only after a fence of it (a send without one would fence nobody). */
  async forPartition(partition: number): Promise<EventProducer> {
    const producer = await this.current.get(partition);
    if (!producer) throw new Error(`changelog partition ${partition} has no fenced producer here`);
    return producer;
  }

  /** A partition this instance no longer owns: its producer goes (its next owner fences the id anyway). */
  async release(partition: number): Promise<void> {
    const released = this.queue(partition, async (previous) => {
      await previous?.disconnect().catch(() => undefined);
      return undefined;
    });
    await released;
    if (this.current.get(partition) === released) this.current.delete(partition);
  }

  /** Releases every partition, after the fences under way. */
  async disconnect(): Promise<void> {
    await Promise.all([...this.current.keys()].map((p) => this.release(p)));
  }

  /**
   * Runs `step` on the partition's producer once the fence or release before it ended. (Not named
   * `then`: an object with a then method is a thenable, and Nest awaits what a factory returns.)
   */
  private queue(
    partition: number,
    step: (previous: EventProducer | undefined) => Promise<EventProducer | undefined>,
  ): Promise<EventProducer | undefined> {
    // A failed fence left no producer (it disconnected its own): the next step starts from none.
    const previous = (this.current.get(partition) ?? Promise.resolve(undefined)).catch(() => undefined);
    const next = previous.then(step);
    this.current.set(partition, next);
    return next;
  }
}

import { KafkaAdminFacade } from './admin';
import type { KafkaClient } from './kafka-client';
import type { EventsLogger } from './logger';

export interface StartPositionsOptions {
  kafka: KafkaClient;
  groupId: string;
  /** Whether the group reads this topic from its end (fromBeginning false): only those are pinned. */
  readsFromEnd(topic: string): boolean;
  commit(offsets: Array<{ topic: string; partition: number; offset: string }>): Promise<void>;
  /** Whether a pin read in `generation` still applies: the same generation, the runner still running. */
  stillCurrent(generation: number): boolean;
  logger: EventsLogger;
}

/**
 * A topic read from its end has no committed offset in a new group until a batch of it is handled.
 * A member that dies before that leaves the next owner starting at the end again, passing over the
 * records in between; and a partition that gets no more records then never commits at all, its lag
 * unknown for good. So at a join, a partition of such a topic without a committed offset gets the
 * log end committed once: "latest" becomes a position the group keeps.
 *
 * Invariant: a partition a batch already advanced in this generation is never pinned; at worst a pin
 * races a batch's commit and moves the position back to where this member started, so records are
 * redelivered, never passed over. The end is the last stable offset (KafkaJS's admin reads
 * read_committed), so a pin never passes an open transaction.
 */
export class StartPositions {
  private admin?: KafkaAdminFacade;
  private readonly advanced = new Set<string>();

  constructor(private readonly o: StartPositionsOptions) {}

  /** A new generation: what batches advanced in the previous one says nothing about this one. */
  newGeneration(): void {
    this.advanced.clear();
  }

  /** A batch (or a skipped marker batch) moved this partition's position in the current generation. */
  advancedBy(topic: string, partition: number): void {
    this.advanced.add(`${topic}/${partition}`);
  }

  async pin(assignment: Record<string, number[]>, generation: number): Promise<void> {
    const fromEnd = Object.entries(assignment).filter(
      ([topic, partitions]) => partitions.length > 0 && this.o.readsFromEnd(topic),
    );
    if (fromEnd.length === 0) return;
    try {
      this.admin ??= new KafkaAdminFacade(this.o.kafka);
      for (const [topic, partitions] of fromEnd) {
        const committed = await this.admin.committedOffsets(this.o.groupId, topic);
        const unset = partitions.filter((p) => (committed.get(p) ?? -1n) < 0n);
        if (unset.length === 0) continue;
        const ends = await this.admin.highWatermarks(topic);
        if (!this.o.stillCurrent(generation)) return;
        const pins = unset
          .filter((p) => !this.advanced.has(`${topic}/${p}`) && ends.has(p))
          .map((p) => ({ topic, partition: p, offset: ends.get(p)!.toString() }));
        if (pins.length === 0) continue;
        await this.o.commit(pins);
        this.o.logger.info(
          { topic, partitions: pins.map((p) => p.partition) },
          'start positions pinned at the log end',
        );
      }
    } catch (e) {
      // Not pinned: the group behaves as KafkaJS alone would; the next join tries again.
      this.o.logger.warn({ groupId: this.o.groupId, err: (e as Error).message }, 'could not pin start positions');
    }
  }

  async close(): Promise<void> {
    await this.admin?.close();
  }
}

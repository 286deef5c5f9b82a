import type { KafkaConsumer } from './kafka-client';
import type { EventsLogger } from './logger';

export interface NextOffset {
  topic: string;
  partition: number;
  /** The next offset to read: everything before it is handled. */
  offset: string;
}

/**
 * Commits the offsets batches recorded, every interval, every partition's in one request, off the
 * batches' path. A failed commit is tried again next interval, unless the group moved on meanwhile:
 * offsets of an older generation cannot be committed, the partitions' new owners redo their records.
 */
export class IntervalCommitter {
  private readonly recorded = new Map<string, NextOffset>();
  private timer?: NodeJS.Timeout;
  private committing?: Promise<void>;
  private generation = 0;

  constructor(
    private readonly consumer: KafkaConsumer,
    private readonly intervalMs: number,
    private readonly logger: EventsLogger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.commit(), this.intervalMs);
    this.timer.unref();
  }

  /** A batch is handled: its partition's next offset goes with the next commit. */
  record(next: NextOffset): void {
    this.recorded.set(`${next.topic}/${next.partition}`, next);
  }

  /** The group was joined again: what was recorded before belongs to the partitions' new owners. */
  newGeneration(): void {
    this.recorded.clear();
    this.generation += 1;
  }

  /** No more intervals; commits what is recorded (call it while still a member of the group). */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.commit();
  }

  private async commit(): Promise<void> {
    await this.committing;
    if (this.recorded.size === 0) return;
    const offsets = [...this.recorded.values()];
    this.recorded.clear();
    const generation = this.generation;
    this.committing = this.consumer.commitOffsets(offsets).then(
      () => undefined,
      (e: Error) => {
        this.logger.warn({ err: e.message, partitions: offsets.length }, 'offset commit failed; retried next interval');
        if (generation !== this.generation) return;
        for (const o of offsets) {
          const key = `${o.topic}/${o.partition}`;
          if (!this.recorded.has(key)) this.recorded.set(key, o);
        }
      },
    );
    await this.committing;
    this.committing = undefined;
  }
}

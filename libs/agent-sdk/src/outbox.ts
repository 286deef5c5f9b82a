import type { StateChangeEvent } from '@vigil/events';
import type { EntityVersions } from './entity-versions';
import { Journal, type JournalRecord } from './journal';

/** A state change as the journal keeps it: the event and the trace it was published in. */
export interface StoredChange {
  event: StateChangeEvent;
  traceparent?: string;
}

export type AcceptOutcome = { durable: true } | { durable: false; error: string };

/**
 * State changes between the agent and Kafka: accepted into the journal (group commit: everything
 * accepted in one tick is one write and one fdatasync), then queued for the sender in journal
 * order until delivered. What is queued is exactly what the journal holds undelivered, so after a
 * restart the same changes, in the same order with the same ids, are queued again.
 */
export class StateChangeOutbox {
  private readonly queue: Array<JournalRecord<StoredChange>> = [];
  private writes: Array<{ stored: StoredChange; resolve: (o: AcceptOutcome) => void }> = [];
  /** Group commits run one after another: two appends in flight could reach the disk out of order. */
  private commits: Promise<void> = Promise.resolve();
  private commitScheduled = false;

  private constructor(
    private readonly journal: Journal<StoredChange>,
    private readonly versions: EntityVersions,
    private readonly onQueued: () => void,
  ) {}

  /** Opens the journal, raising the entity versions by what it holds and queueing what was not delivered. */
  static open(
    options: { dir: string; segmentBytes: number },
    versions: EntityVersions,
    onQueued: () => void,
  ): StateChangeOutbox {
    const replayed: Array<JournalRecord<StoredChange>> = [];
    const journal = Journal.open<StoredChange>(options, (r) => {
      replayed.push(r);
      versions.observe(r.data.event.entityId, r.data.event.version);
    });
    const outbox = new StateChangeOutbox(journal, versions, onQueued);
    outbox.queue.push(...replayed.filter((r) => r.seq > journal.acked));
    return outbox;
  }

  /** Bytes on disk still holding undelivered changes. */
  get bytes(): number {
    return this.journal.bytes;
  }

  /** Changes accepted or being made durable, not yet delivered. */
  get pending(): number {
    return this.queue.length + this.writes.length;
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Resolves once the change is durable (or could not be made so); then the sender may deliver it. */
  accept(stored: StoredChange): Promise<AcceptOutcome> {
    return new Promise<AcceptOutcome>((resolve) => {
      this.writes.push({ stored, resolve });
      this.scheduleCommit();
    });
  }

  /** Makes everything accepted so far durable. */
  async flush(): Promise<void> {
    if (this.writes.length > 0) this.scheduleCommit();
    await this.commits;
  }

  private scheduleCommit(): void {
    if (this.commitScheduled) return;
    this.commitScheduled = true;
    // After the commit in flight, and one tick later: what the host publishes in the same tick
    // joins the same write and fdatasync.
    this.commits = this.commits
      .then(() => new Promise<void>((r) => setImmediate(r)))
      .then(() => {
        this.commitScheduled = false;
        return this.commit();
      });
  }

  private async commit(): Promise<void> {
    const batch = this.writes;
    this.writes = [];
    if (batch.length === 0) return;
    const { records, buffer } = this.journal.frame(batch.map((w) => w.stored));
    try {
      await this.journal.appendDurably(records, buffer);
    } catch (e) {
      for (const w of batch) {
        this.versions.giveBack(w.stored.event.entityId, w.stored.event.version);
        w.resolve({ durable: false, error: (e as Error).message });
      }
      return;
    }
    this.queue.push(...records);
    for (const w of batch) w.resolve({ durable: true });
    this.onQueued();
  }

  /** The oldest undelivered changes, in journal order. */
  head(max: number): Array<JournalRecord<StoredChange>> {
    return this.queue.slice(0, max);
  }

  /**
   * The oldest `count` changes reached Kafka: they leave the queue, and the journal records the
   * position (the versions are saved before the segments they were read from are deleted).
   */
  delivered(count: number): Promise<void> {
    const last = this.queue.splice(0, count).at(-1);
    if (!last) return Promise.resolve();
    return this.journal.ack(last.seq, () => this.versions.persist());
  }

  async close(): Promise<void> {
    await this.flush();
    await this.versions.persist();
    await this.journal.close();
  }
}

import { randomUUID } from 'node:crypto';
import type { StateChangeEvent } from '@vigil/events';

/**
 * The soak's state-change stream: versions per entity in order, with what real agents send besides:
 * duplicates (a retry of the same event id), reorders (a version overtaken by the entity's next) and
 * deletes (entities recreated after them). Every choice comes from `random`, so a seed replays it.
 */
export class ChangeStream {
  deletes = 0;
  private readonly versions = new Map<string, number>();
  private readonly lastType = new Map<string, StateChangeEvent['eventType']>();
  private readonly held = new Map<string, StateChangeEvent>();

  constructor(
    private readonly run: string,
    private readonly entities: number,
    private readonly random: () => number,
  ) {}

  /** The next events to send, in the order they go out on the partition. */
  next(): StateChangeEvent[] {
    const id = `${this.run}-e${Math.floor(this.random() * this.entities)}`;
    const version = (this.versions.get(id) ?? 0) + 1;
    this.versions.set(id, version);
    const deleted = version > 1 && this.random() < 0.03;
    if (deleted) this.deletes++;
    const recreated = version === 1 || this.lastType.get(id) === 'deleted';
    const e: StateChangeEvent = {
      eventId: randomUUID(),
      entityId: id,
      entityType: 'service',
      agentId: `${this.run}-owner-${Math.floor(this.random() * 20)}`,
      eventType: deleted ? 'deleted' : recreated ? 'created' : 'updated',
      version,
      timestamp: Date.now(),
      payload: deleted ? null : JSON.stringify({ version }),
      checksum: null,
    };
    this.lastType.set(id, e.eventType);
    const out: StateChangeEvent[] = [];
    // A reorder: this version waits and goes out after the entity's next one.
    const waiting = this.held.get(id);
    if (waiting) {
      this.held.delete(id);
      out.push(e, waiting);
    } else if (this.random() < 0.05) {
      this.held.set(id, e);
    } else out.push(e);
    // A duplicate: the same event (same id) again, as a retrying agent sends it.
    if (out.length > 0 && this.random() < 0.1) out.push(out[0]!);
    return out;
  }

  /** The versions still held back for a reorder: they go out last. */
  drainHeld(): StateChangeEvent[] {
    const rest = [...this.held.values()];
    this.held.clear();
    return rest;
  }
}

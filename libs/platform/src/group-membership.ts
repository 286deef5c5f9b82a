import type { GroupListener } from '@vigil/kafka';

/**
 * Fans the consumer's group events out to the providers that keep per-partition state (e.g. leases
 * that must move with their partition). The transport is built after the providers, so they
 * subscribe here instead of holding the consumer.
 */
export class GroupMembership implements GroupListener {
  private readonly listeners: GroupListener[] = [];
  private last?: { assignment: Record<string, number[]>; generation: number };

  /** Subscribes; a listener that comes after a join hears the current assignment at once. */
  subscribe(listener: GroupListener): void {
    this.listeners.push(listener);
    if (this.last) listener.joined?.(this.last.assignment, this.last.generation);
  }

  rebalancing(): void {
    for (const l of this.listeners) l.rebalancing?.();
  }

  joined(assignment: Record<string, number[]>, generation: number): void {
    this.last = { assignment, generation };
    for (const l of this.listeners) l.joined?.(assignment, generation);
  }
}

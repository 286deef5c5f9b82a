/** What a send reports: nothing when everything went out, or the error of each item that did not. */
export type LaneOutcome<T> = void | Map<T, Error>;

/**
 * One send in flight at a time; what arrives meanwhile goes out together in the next one, so a
 * thousand callers make a few requests, not a thousand. Each caller learns the outcome of its own
 * items in the send that carried them. Order holds: items go out in the order they were handed in.
 */
export class CoalescingLane<T> {
  private waiting: Array<{ items: T[]; resolve: () => void; reject: (e: Error) => void }> = [];
  private sending = false;

  /** @param sendAll sends the items; throws when none went out, or names those that did not. */
  constructor(private readonly sendAll: (items: T[]) => Promise<LaneOutcome<T>>) {}

  send(items: T[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ items, resolve, reject });
      if (!this.sending) {
        this.sending = true;
        // A turn of the event loop lets the callers of the same moment join the first send.
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    while (this.waiting.length > 0) {
      const batch = this.waiting;
      this.waiting = [];
      try {
        const failed = await this.sendAll(batch.flatMap((w) => w.items));
        for (const w of batch) {
          const error = failed ? w.items.map((i) => failed.get(i)).find((e) => e !== undefined) : undefined;
          if (error) w.reject(error);
          else w.resolve();
        }
      } catch (e) {
        for (const w of batch) w.reject(e as Error);
      }
    }
    this.sending = false;
  }
}

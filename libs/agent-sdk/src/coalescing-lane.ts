/**
 * One send in flight at a time; what arrives meanwhile goes out together in the next one, so a
 * thousand callers make a few requests, not a thousand. Each caller learns the outcome of the send
 * that carried its items. Order holds: items go out in the order they were handed in.
 */
export class CoalescingLane<T> {
  private waiting: Array<{ items: T[]; resolve: () => void; reject: (e: Error) => void }> = [];
  private sending = false;

  constructor(private readonly sendAll: (items: T[]) => Promise<void>) {}

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
        await this.sendAll(batch.flatMap((w) => w.items));
        for (const w of batch) w.resolve();
      } catch (e) {
        for (const w of batch) w.reject(e as Error);
      }
    }
    this.sending = false;
  }
}

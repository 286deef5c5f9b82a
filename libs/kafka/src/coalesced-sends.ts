/**
 * Group commit for sends to one topic: while a send is in flight, the records of every send that
 * arrives meanwhile wait and then go together in the next one. A burst of small sends (heartbeat's
 * owned partitions each publishing the transitions they just decided) costs one produce round trip
 * per wave instead of one per caller, on a producer that keeps one request in flight.
 *
 * Invariant: each caller's promise settles with the send that carried its records; records keep the
 * order in which their sends were called (so per-key order holds). A failed send fails every caller
 * whose records it carried, and only those; each retries its own.
 */
export class CoalescedSends<R> {
  private waiting: Array<{ records: R[]; settle: (e?: unknown) => void }> = [];
  private inFlight = false;

  constructor(private readonly sendAll: (records: R[]) => Promise<unknown>) {}

  send(records: R[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ records, settle: (e) => (e === undefined ? resolve() : reject(e)) });
      if (!this.inFlight) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.inFlight = true;
    while (this.waiting.length > 0) {
      const wave = this.waiting;
      this.waiting = [];
      try {
        await this.sendAll(wave.flatMap((w) => w.records));
        for (const w of wave) w.settle();
      } catch (e) {
        for (const w of wave) w.settle(e ?? new Error('send failed'));
      }
    }
    this.inFlight = false;
  }
}

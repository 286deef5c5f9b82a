/**
 * A partition's notion of "now", in broker time. It is the newest LogAppendTime seen on the
 * partition, advanced by the local monotonic clock only while the consumer is caught up (its
 * position at the high watermark) and the partition is idle. A consumer that lags, was paused
 * (SIGSTOP) or just took the partition over therefore sees its clock stop instead of racing ahead,
 * and cannot declare agents dead because of its own delay. No two machines' clocks are compared:
 * broker times only against broker times, and local elapsed time only from the monotonic clock.
 */
export class PartitionClock {
  private brokerMs = 0;
  private monoAtLastAdvance = 0;
  private caughtUp = false;

  constructor(private readonly monotonicMs: () => number = () => performance.now()) {}

  /** A record with this broker append time was consumed. */
  observe(logAppendTimeMs: number): void {
    if (logAppendTimeMs > this.brokerMs) this.brokerMs = logAppendTimeMs;
    this.monoAtLastAdvance = this.monotonicMs();
  }

  /**
   * The consumer's position relative to the high watermark: caught up means nothing is waiting to be
   * read. Becoming caught up restarts local advancement from this moment, never retroactively.
   */
  setCaughtUp(caughtUp: boolean): void {
    if (caughtUp && !this.caughtUp) this.monoAtLastAdvance = this.monotonicMs();
    if (!caughtUp && this.caughtUp) this.brokerMs = this.now();
    this.caughtUp = caughtUp;
  }

  get started(): boolean {
    return this.brokerMs > 0;
  }

  /** Broker time as far as this partition can tell; stands still while lagging. */
  now(): number {
    if (!this.caughtUp || this.brokerMs === 0) return this.brokerMs;
    return this.brokerMs + Math.max(0, this.monotonicMs() - this.monoAtLastAdvance);
  }
}

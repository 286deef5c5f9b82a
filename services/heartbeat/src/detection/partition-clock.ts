/**
 * A partition's notion of "now", in broker time, that never runs ahead of what has been consumed.
 *
 * A record appended at broker time B and consumed at local monotonic time M proves that broker time
 * at any later local moment X is at least B + (X - M). But only moments at which nothing was left
 * unread may be used as "now": the poller asks for the partition's high watermark at local time C,
 * and if the consumer had processed everything up to it, every heartbeat appended before C has been
 * applied. So now = B + max(0, C - M), with C the latest such confirmation. A consumer that lags,
 * was paused (SIGSTOP), or just took the partition over gets no confirmation and its clock stands
 * still instead of declaring agents dead for its own delay. No two machines' clocks are compared:
 * broker times only against broker times, and local elapsed time only from the monotonic clock.
 */
export class PartitionClock {
  private brokerMs = 0;
  private observedAtMono = 0;
  private confirmedAtMono = 0;

  constructor(private readonly monotonicMs: () => number = () => performance.now()) {}

  /** A record with this broker append time was consumed (and applied). */
  observe(logAppendTimeMs: number): void {
    if (logAppendTimeMs > this.brokerMs) {
      this.brokerMs = logAppendTimeMs;
      this.observedAtMono = this.monotonicMs();
    }
  }

  /**
   * Everything appended before the local moment `requestedAtMono` (when the high watermark was
   * asked for) has been applied. A confirmation older than the last record adds nothing.
   */
  confirmCaughtUp(requestedAtMono: number): void {
    if (requestedAtMono > this.confirmedAtMono) this.confirmedAtMono = requestedAtMono;
  }

  /** Starts from a broker time persisted by a previous owner; it moves once this instance catches up. */
  resumeFrom(brokerMs: number): void {
    if (brokerMs > this.brokerMs) {
      this.brokerMs = brokerMs;
      this.observedAtMono = this.monotonicMs();
    }
  }

  get started(): boolean {
    return this.brokerMs > 0;
  }

  /** Broker time as far as this partition can tell; stands still while lagging. */
  now(): number {
    if (this.brokerMs === 0) return 0;
    // Whole milliseconds, rounded down: broker times are integers, and "now" must never run ahead.
    return this.brokerMs + Math.max(0, Math.floor(this.confirmedAtMono - this.observedAtMono));
  }
}

/** Full-jitter backoff: a random wait in [ceiling/2, ceiling), so a fleet does not retry in lockstep. */
export function jitter(ceilingMs: number): number {
  return ceilingMs / 2 + Math.random() * (ceilingMs / 2);
}

/** Exponential ceiling: 250 ms doubling per failure, capped. */
export function backoffCeiling(failures: number, capMs: number): number {
  return Math.min(capMs, 250 * 2 ** Math.min(failures, 10));
}

export interface RetryLoopOptions {
  hasWork(): boolean;
  /** One attempt at the work; throws when it failed and should be retried after a backoff. */
  attempt(): Promise<void>;
  /** The backoff ceiling after this many consecutive failures. */
  ceilingMs(failures: number): number;
  onSuccess?(): void;
  onFailure?(error: Error, failures: number): void;
}

/**
 * The one way the SDK waits and retries: sleeps while there is no work (until `wake`), retries a
 * failed attempt after a jittered backoff, never spins, and ends promptly on `stop` (sleeps are cut
 * short). The senders of state changes and heartbeats each run one.
 */
export class RetryLoop {
  private stopped = false;
  /** Ends the current wait: set for every wait, called by stop() and (idle waits only) by wake(). */
  private endWait?: () => void;
  private idle = false;
  private running?: Promise<void>;

  constructor(private readonly options: RetryLoopOptions) {}

  start(): Promise<void> {
    this.running ??= this.run();
    return this.running;
  }

  /** New work arrived: a loop waiting for work looks at once (a loop in backoff keeps waiting). */
  wake(): void {
    if (this.idle) this.endWait?.();
  }

  /** Ends the loop after the attempt in flight; resolves when it has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.endWait?.();
    await this.running;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      if (!this.options.hasWork()) {
        await this.wait();
        continue;
      }
      try {
        await this.options.attempt();
        failures = 0;
        this.options.onSuccess?.();
      } catch (e) {
        failures += 1;
        this.options.onFailure?.(e as Error, failures);
        // Not cut short by wake(): new work during an outage must not turn the backoff into a spin.
        await this.wait(jitter(this.options.ceilingMs(failures)));
      }
    }
  }

  /** Without ms: until woken (new work) or stopped. With ms: a backoff, until it elapses or stop(). */
  private wait(ms?: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.idle = ms === undefined;
    return new Promise<void>((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(() => this.endWait?.(), ms);
      this.endWait = () => {
        this.endWait = undefined;
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

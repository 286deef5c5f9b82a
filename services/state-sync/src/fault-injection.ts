import type { Logger } from '@vigil/platform';

/** The windows of the exactly-once protocol that tests aim at. */
export type FaultWindow = 'after-apply' | 'after-publish';
/** A crash SIGKILLs the process there; a pause SIGSTOPs it there, once (a test SIGCONTs it later). */
export type FaultPoint = `crash-${FaultWindow}` | `pause-${FaultWindow}`;

/**
 * Tests only: SIGKILLs or SIGSTOPs this process at a named window of the protocol, on the Nth batch
 * or later. Real signals, so nothing after the window runs meanwhile: what another process finds is
 * what a crash or a stall there leaves. Every window the protocol has is named here, so a reader
 * sees them in one place.
 */
export class FaultInjector {
  private readonly armed?: { at: FaultPoint; batch: number };
  private paused = false;

  /** @param spec `<point>:<batch>`, e.g. `crash-after-apply:3`, or undefined for none */
  constructor(
    spec: string | undefined,
    private readonly logger: Logger,
  ) {
    if (!spec) return;
    const [at, n] = spec.split(':') as [FaultPoint, string];
    this.armed = { at, batch: Number(n) };
    this.logger.warn({ fault: spec }, 'fault injection armed: this process will signal itself');
  }

  /** The process reached a window (crash and pause points share it: both are checked). */
  reached(window: FaultWindow, batch: number): void {
    if (!this.armed || batch < this.armed.batch) return;
    if (this.armed.at === `crash-${window}`) {
      this.logger.warn({ at: this.armed.at, batch }, 'fault injection: SIGKILL');
      process.kill(process.pid, 'SIGKILL');
    } else if (this.armed.at === `pause-${window}` && !this.paused) {
      this.paused = true;
      this.logger.warn({ at: this.armed.at, batch }, 'fault injection: SIGSTOP');
      process.kill(process.pid, 'SIGSTOP');
    }
  }
}

import type { Logger } from '@vigil/platform';

/** The crash windows of the exactly-once protocol that tests aim at. */
export type FaultPoint = 'crash-after-apply' | 'crash-after-publish';

/**
 * Tests only: SIGKILLs this process at a named window of the protocol, on the Nth batch or later.
 * A real SIGKILL, so nothing after the window runs: what the next process finds is what a crash
 * there leaves. Every window the protocol has is named here, so a reader sees them in one place.
 */
export class FaultInjector {
  private readonly armed?: { at: FaultPoint; batch: number };

  /** @param spec `<point>:<batch>`, e.g. `crash-after-apply:3`, or undefined for none */
  constructor(
    spec: string | undefined,
    private readonly logger: Logger,
  ) {
    if (!spec) return;
    const [at, n] = spec.split(':') as [FaultPoint, string];
    this.armed = { at, batch: Number(n) };
    this.logger.warn({ fault: spec }, 'fault injection armed: this process will SIGKILL itself');
  }

  reached(at: FaultPoint, batch: number): void {
    if (this.armed?.at === at && batch >= this.armed.batch) {
      this.logger.warn({ at, batch }, 'fault injection: SIGKILL');
      process.kill(process.pid, 'SIGKILL');
    }
  }
}

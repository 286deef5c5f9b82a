import { stderrLogger, type EventsLogger } from '@vigil/kafka';

export interface CommandQueueOptions<C, R> {
  /** At most this many run at once (a long backup or restore must not starve the host). */
  concurrency: number;
  /** Carries a command out; resolves with its final report (never rejects: failures are reports). */
  run(command: C): Promise<R>;
  /** Publishes a report. */
  report(result: R): Promise<unknown>;
  logger?: EventsLogger;
}

/** Attempts remembered to answer a redelivered command without running it again. */
const REMEMBERED = 10_000;

/**
 * Long-running agent commands (backups, restores) behind the supervisor: `submit` reports the
 * command as started and returns at once, so neither heals nor the agent's publishing wait on it;
 * a command seen again (redelivered, or republished by its commander) is answered with its final
 * report instead of running twice. A report that cannot be sent is logged: the commander times the
 * attempt out and retries, nothing is lost but time.
 */
export class CommandQueue<C, R> {
  private readonly queue: Array<{ id: string; command: C }> = [];
  private running = 0;
  /** id -> its final report, or null while it runs; oldest first (a Map keeps insertion order). */
  private readonly known = new Map<string, R | null>();
  private readonly idleWaiters: Array<() => void> = [];
  private readonly logger: EventsLogger;

  constructor(private readonly options: CommandQueueOptions<C, R>) {
    this.logger = options.logger ?? stderrLogger;
  }

  async submit(id: string, command: C, started: R): Promise<void> {
    if (this.known.has(id)) {
      const done = this.known.get(id);
      if (done) await this.options.report(done);
      return;
    }
    this.remember(id, null);
    await this.options.report(started);
    this.queue.push({ id, command });
    this.pump();
  }

  /** Resolves when nothing is queued or running (tests, and a graceful stop). */
  idle(): Promise<void> {
    if (this.running === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.running < Math.max(1, this.options.concurrency) && this.queue.length > 0) {
      const { id, command } = this.queue.shift()!;
      this.running += 1;
      void this.execute(id, command).finally(() => {
        this.running -= 1;
        this.pump();
        if (this.running === 0 && this.queue.length === 0) this.idleWaiters.splice(0).forEach((r) => r());
      });
    }
  }

  private async execute(id: string, command: C): Promise<void> {
    const result = await this.options.run(command);
    this.remember(id, result);
    try {
      await this.options.report(result);
    } catch (e) {
      this.logger.error({ id, err: (e as Error).message }, 'command result not sent');
    }
  }

  private remember(id: string, result: R | null): void {
    this.known.delete(id);
    this.known.set(id, result);
    if (this.known.size > REMEMBERED) this.known.delete(this.known.keys().next().value!);
  }
}

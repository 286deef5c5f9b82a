import type { EventsLogger } from './logger';
import type { EventsMetrics } from './metrics';

/**
 * Thrown by a handler whose partition needs work done before its records can be applied (state
 * rebuilt from a changelog, say) that would hold the consumer far past its session. The runner
 * pauses the partition, writes no dead letters and commits nothing, keeps the group membership
 * alive meanwhile, and hands the same records over again once `until` settles. Not a failure: no
 * retry count, no backoff.
 */
export class PartitionNotReady extends Error {
  constructor(
    readonly until: Promise<unknown>,
    reason: string,
  ) {
    super(reason);
    this.name = 'PartitionNotReady';
  }
}

/** KafkaJS's pause of one partition: returns its resume. */
export type PauseFn = () => () => void;

/**
 * The two ways a consumer's partition is paused and resumed: until its handler's preparation
 * settles (PartitionNotReady), or after repeated failures, for a time that doubles with each pause
 * up to `maxPauseMs` and starts over once a batch succeeds. No resume fires after `stop()`.
 */
export class PartitionPauses {
  private readonly failures = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private running = true;

  constructor(
    private readonly logger: EventsLogger,
    private readonly options: { maxPauseMs?: number; metrics?: EventsMetrics } = {},
  ) {}

  untilReady(topic: string, partition: number, notReady: PartitionNotReady, pause: PauseFn): void {
    this.logger.info({ topic, partition, reason: notReady.message }, 'partition paused until it is ready');
    const resume = this.resumeUnlessStopped(pause());
    // A failed preparation is the handler's to report and redo: it is asked again on resume.
    notReady.until.then(resume, (e: Error) => {
      this.logger.warn({ topic, partition, err: e.message }, 'partition preparation failed; retried on resume');
      this.after(1000, resume);
    });
  }

  withBackoff(topic: string, partition: number, pause: PauseFn): void {
    const key = `${topic}/${partition}`;
    const failures = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, failures);
    const delay = Math.min(this.options.maxPauseMs ?? 30000, 1000 * 2 ** (failures - 1));
    this.logger.error({ partition: key, pauseMs: delay, failures }, 'partition paused after repeated failures');
    this.options.metrics?.partitionPauses.inc({ topic });
    this.after(delay, this.resumeUnlessStopped(pause()));
  }

  /** A batch of the partition succeeded: its next pause for failures is short again. */
  succeeded(topic: string, partition: number): void {
    this.failures.delete(`${topic}/${partition}`);
  }

  stop(): void {
    this.running = false;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private resumeUnlessStopped(resume: () => void): () => void {
    return () => {
      if (this.running) resume();
    };
  }

  private after(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }
}

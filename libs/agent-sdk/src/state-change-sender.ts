import { Topics } from '@vigil/events';
import { extractTraceContext, type EventProducer, type EventsLogger } from '@vigil/kafka';
import type { StateChangeOutbox } from './outbox';
import { backoffCeiling, RetryLoop } from './retry-loop';

/** Whether this agent's last attempt to reach Kafka, of any sender, worked. */
export interface LinkState {
  connected: boolean;
}

export interface StateChangeSenderOptions {
  agentId: string;
  batchSize: number;
  maxBackoffMs: number;
  logger: EventsLogger;
}

/**
 * Delivers the outbox to Kafka in order with the idempotent producer, a batch at a time, each
 * change in the trace it was published in. While Kafka is away it backs off (jittered, up to
 * maxBackoffMs) and logs the outage at most every 10 s.
 */
export class StateChangeSender {
  private readonly loop: RetryLoop;
  private lastFailureLog = 0;
  readonly counts = { delivered: 0, sendAttempts: 0, sendFailures: 0 };

  constructor(
    private readonly outbox: StateChangeOutbox,
    private readonly producer: EventProducer,
    private readonly link: LinkState,
    private readonly options: StateChangeSenderOptions,
  ) {
    this.loop = new RetryLoop({
      hasWork: () => outbox.queued > 0,
      attempt: () => this.sendBatch(),
      ceilingMs: (failures) => backoffCeiling(failures, options.maxBackoffMs),
      onSuccess: () => {
        if (!link.connected) options.logger.info({ agentId: options.agentId }, 'connected to Kafka');
        link.connected = true;
      },
      onFailure: (e) => this.failed(e),
    });
  }

  start(): void {
    this.loop.start().catch((e: Error) => this.options.logger.error({ err: e.message }, 'sender stopped'));
  }

  /** The outbox has new changes. */
  wake(): void {
    this.loop.wake();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  private async sendBatch(): Promise<void> {
    this.counts.sendAttempts += 1;
    const batch = this.outbox.head(this.options.batchSize);
    await this.producer.send(
      Topics.stateChanges,
      batch.map((r) => ({
        value: r.data.event,
        context: extractTraceContext(r.data.traceparent ? { traceparent: r.data.traceparent } : {}),
      })),
    );
    this.counts.delivered += batch.length;
    this.outbox
      .delivered(batch.length)
      .catch((e: Error) => this.options.logger.error({ err: e.message }, 'could not record delivery in the journal'));
  }

  private failed(e: Error): void {
    this.counts.sendFailures += 1;
    this.link.connected = false;
    if (Date.now() - this.lastFailureLog > 10000) {
      this.lastFailureLog = Date.now();
      this.options.logger.warn(
        { agentId: this.options.agentId, err: e.message, pending: this.outbox.queued },
        'Kafka unreachable; buffering on disk',
      );
    }
  }
}

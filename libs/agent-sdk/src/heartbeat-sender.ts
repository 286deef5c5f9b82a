import os from 'node:os';
import { randomUUID } from 'node:crypto';
import type { AgentReportedStatus, HealthCheck, Heartbeat } from '@vigil/events';
import type { EventsLogger } from '@vigil/kafka';
import type { AgentConnection } from './connection';
import { backoffCeiling, RetryLoop } from './retry-loop';
import type { LinkState } from './state-change-sender';

/** What the agent reports in each automatic heartbeat; asked for just before it is sent. */
export interface HeartbeatReport {
  status?: AgentReportedStatus;
  metrics?: Record<string, number>;
  checks?: HealthCheck[];
}

/** Lease settings and registration data carried in every heartbeat. */
export type HeartbeatSettings = Partial<
  Pick<
    Heartbeat,
    'intervalMs' | 'missThreshold' | 'startPeriodMs' | 'agentVersion' | 'priorityTier' | 'dependencies' | 'labels'
  >
>;

export interface HeartbeatSenderOptions {
  agentId: string;
  host?: string;
  settings: HeartbeatSettings;
  /** Heartbeats waiting for Kafka; past it the oldest is dropped. */
  maxQueued: number;
  maxBackoffMs: number;
  now: () => number;
  logger: EventsLogger;
}

/**
 * The proof of life, with a sender of its own: a state-change send stuck in the producer's retries
 * (a long outage, a big backlog) must not hold it back. Heartbeats never touch disk; at most
 * maxQueued wait, the oldest dropped first; failed sends are retried at least once per interval.
 */
export class HeartbeatSender {
  private readonly queue: Heartbeat[] = [];
  private readonly loop: RetryLoop;
  private readonly bootId = randomUUID();
  private timer?: NodeJS.Timeout;
  private sequence = 0;
  readonly counts = { sent: 0, dropped: 0 };

  constructor(
    private readonly connection: AgentConnection,
    link: LinkState,
    private readonly options: HeartbeatSenderOptions,
  ) {
    this.loop = new RetryLoop({
      hasWork: () => this.queue.length > 0,
      attempt: () => this.send(),
      // A beat is small, and an agent whose beats resume late after an outage looks dead.
      ceilingMs: (failures) => Math.min(this.intervalMs, backoffCeiling(failures, options.maxBackoffMs)),
      onSuccess: () => (link.connected = true),
      onFailure: (e) => {
        link.connected = false;
        options.logger.debug({ agentId: options.agentId, err: e.message }, 'heartbeat send failed');
      },
    });
  }

  get intervalMs(): number {
    return this.options.settings.intervalMs ?? 1000;
  }

  get automatic(): boolean {
    return this.timer !== undefined;
  }

  get queued(): number {
    return this.queue.length;
  }

  start(): void {
    this.loop.start().catch((e: Error) => this.options.logger.error({ err: e.message }, 'heartbeat sender stopped'));
  }

  /** One now and one every interval; the timer does not keep the process alive. */
  startAutomatic(report: () => HeartbeatReport): void {
    if (this.timer) return;
    const beat = () => {
      let r: HeartbeatReport = {};
      try {
        r = report();
      } catch (e) {
        r = { status: 'degraded', checks: [{ name: 'report', ok: false, detail: (e as Error).message }] };
      }
      this.enqueue(r.status ?? 'ok', r.metrics ?? {}, r.checks ?? []);
    };
    beat();
    this.timer = setInterval(beat, this.intervalMs);
    this.timer.unref();
  }

  stopAutomatic(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  enqueue(status: AgentReportedStatus, metrics: Record<string, number>, checks: HealthCheck[]): void {
    const s = this.options.settings;
    this.queue.push({
      agentId: this.options.agentId,
      host: this.options.host ?? os.hostname(),
      status,
      sequence: this.sequence++,
      bootId: this.bootId,
      timestamp: this.options.now(),
      intervalMs: this.intervalMs,
      missThreshold: s.missThreshold ?? 3,
      startPeriodMs: s.startPeriodMs ?? 0,
      agentVersion: s.agentVersion ?? '',
      priorityTier: s.priorityTier ?? 2,
      dependencies: s.dependencies ?? [],
      labels: s.labels ?? {},
      checks,
      metrics,
    });
    for (let dropped = this.dropOldest(); dropped > 0; dropped--) {
      this.options.logger.warn(
        { agentId: this.options.agentId },
        'heartbeat dropped: Kafka unreachable and the queue is full',
      );
    }
    this.loop.wake();
  }

  stop(): Promise<void> {
    this.stopAutomatic();
    return this.loop.stop();
  }

  private async send(): Promise<void> {
    const beats = this.queue.splice(0);
    try {
      await this.connection.sendHeartbeats(beats);
      this.counts.sent += beats.length;
    } catch (e) {
      // Put back what is still fresh, ahead of anything queued meanwhile, within the cap.
      this.queue.unshift(...beats);
      this.dropOldest();
      throw e;
    }
  }

  /** Keeps the newest maxQueued, counting each one dropped; returns how many were. */
  private dropOldest(): number {
    const excess = Math.max(0, this.queue.length - this.options.maxQueued);
    this.queue.splice(0, excess);
    this.counts.dropped += excess;
    return excess;
  }
}

import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { context, SpanKind, trace } from '@opentelemetry/api';
import type { AgentReportedStatus, HealthCheck, StateChangeEvent, StateChangeType } from '@vigil/events';
import { injectTraceContext, stderrLogger, type EventsLogger } from '@vigil/kafka';
import { AgentConnection, sleep } from './connection';
import { EntityVersions } from './entity-versions';
import { HeartbeatSender, type HeartbeatReport, type HeartbeatSettings } from './heartbeat-sender';
import { StateChangeOutbox } from './outbox';
import { StateChangeSender, type LinkState } from './state-change-sender';

export interface AgentPublisherOptions {
  agentId: string;
  /** Where the journal and the per-entity versions live; one directory per agent, kept across restarts. */
  dataDir: string;
  /** Kafka and the registry: either a connection of the publisher's own (brokers + registryUrl) or a shared one. */
  brokers?: string[];
  registryUrl?: string;
  connection?: AgentConnection;
  host?: string;
  /** Lease settings and registration data carried in every heartbeat. */
  heartbeat?: HeartbeatSettings;
  /** Hard cap of undelivered state changes on disk; past it new changes are dropped (default 64 MiB). */
  maxBufferBytes?: number;
  /** Heartbeats waiting for Kafka; past it the oldest is dropped (default 5). */
  maxQueuedHeartbeats?: number;
  segmentBytes?: number;
  /** Records per Kafka send (default 500). */
  sendBatchSize?: number;
  /** Longest wait between send attempts while Kafka is unreachable (default 30 s). */
  maxBackoffMs?: number;
  logger?: EventsLogger;
  /** The agent's wall clock for event and heartbeat timestamps (informational; Vigil never trusts them). */
  now?: () => number;
}

export interface PublishReceipt {
  /** True once the change is on disk (fsync'd): it will reach Kafka, also across a restart. */
  accepted: boolean;
  eventId?: string;
  version?: number;
  /** Why a change was not accepted: the buffer is full, or the publisher is closed. */
  reason?: string;
}

export interface PublisherStats {
  pending: number;
  bufferBytes: number;
  delivered: number;
  sendAttempts: number;
  sendFailures: number;
  droppedStateChanges: number;
  droppedHeartbeats: number;
  connected: boolean;
}

/**
 * The agent's side of Vigil, a thin front over parts with one job each: entity versions, the
 * outbox over the on-disk journal, the state-change sender and the heartbeat sender (each on the
 * shared retry loop), over a connection that several agents may share.
 *
 * `publishStateChange` assigns the event id and the entity's next version, makes the event durable
 * in the journal and resolves then; the sender delivers the journal to Kafka in order with the
 * idempotent producer. After a restart (even a SIGKILL) undelivered events go out in their
 * original order with their original ids, so a retry never creates a second event id. Nothing
 * here throws into the host or rejects a promise.
 */
export class AgentPublisher {
  readonly agentId: string;
  private readonly link: LinkState = { connected: false };
  private readonly logger: EventsLogger;
  private readonly connection: AgentConnection;
  private readonly ownConnection?: AgentConnection;
  private readonly versions: EntityVersions;
  private readonly outbox: StateChangeOutbox;
  private readonly sender: StateChangeSender;
  private readonly heartbeats: HeartbeatSender;
  private droppedStateChanges = 0;
  private closed = false;

  private constructor(private readonly options: AgentPublisherOptions) {
    this.agentId = options.agentId;
    this.logger = options.logger ?? stderrLogger;
    if (!options.connection) {
      if (!options.brokers || !options.registryUrl)
        throw new Error('AgentPublisher needs either a connection or brokers and registryUrl');
      this.ownConnection = new AgentConnection({
        brokers: options.brokers,
        registryUrl: options.registryUrl,
        clientId: `agent-${options.agentId}`,
        logger: this.logger,
      });
    }
    this.connection = (options.connection ?? this.ownConnection)!;
    this.versions = EntityVersions.load(options.dataDir);
    this.outbox = StateChangeOutbox.open(
      { dir: path.join(options.dataDir, 'journal'), segmentBytes: options.segmentBytes ?? 8 * 2 ** 20 },
      this.versions,
      () => this.sender.wake(),
    );
    const maxBackoffMs = options.maxBackoffMs ?? 30000;
    this.sender = new StateChangeSender(this.outbox, this.connection.producer, this.link, {
      agentId: options.agentId,
      batchSize: options.sendBatchSize ?? 500,
      maxBackoffMs,
      logger: this.logger,
    });
    this.heartbeats = new HeartbeatSender(this.connection, this.link, {
      agentId: options.agentId,
      host: options.host,
      settings: options.heartbeat ?? {},
      maxQueued: options.maxQueuedHeartbeats ?? 5,
      maxBackoffMs,
      now: this.now,
      logger: this.logger,
    });
  }

  /** Opens the journal in dataDir (replaying what a previous run left undelivered) and starts sending. */
  static open(options: AgentPublisherOptions): AgentPublisher {
    const publisher = new AgentPublisher(options);
    if (publisher.outbox.queued > 0) {
      publisher.logger.info(
        { agentId: options.agentId, undelivered: publisher.outbox.queued },
        'replaying undelivered state changes',
      );
    }
    publisher.sender.start();
    publisher.heartbeats.start();
    return publisher;
  }

  /** The version the entity's next change will get, minus one (0 for an entity never published). */
  versionOf(entityId: string): number {
    return this.versions.current(entityId);
  }

  async publishStateChange(
    entity: { id: string; type: string },
    eventType: StateChangeType,
    payload: unknown,
    checksum: string | null = null,
  ): Promise<PublishReceipt> {
    if (this.closed) return { accepted: false, reason: 'publisher is closed' };
    const span = trace.getTracer('@vigil/agent-sdk').startSpan('agent publishStateChange', {
      kind: SpanKind.PRODUCER,
      attributes: { 'vigil.agent.id': this.agentId, 'vigil.entity.id': entity.id },
    });
    try {
      let payloadJson: string | null;
      try {
        payloadJson = eventType === 'deleted' ? null : JSON.stringify(payload ?? null);
      } catch (e) {
        return { accepted: false, reason: `payload is not serialisable: ${(e as Error).message}` };
      }
      const event: StateChangeEvent = {
        eventId: randomUUID(),
        entityId: entity.id,
        entityType: entity.type,
        agentId: this.agentId,
        eventType,
        version: this.versions.current(entity.id) + 1,
        timestamp: this.now(),
        payload: payloadJson,
        checksum,
      };
      span.setAttributes({ 'vigil.event.id': event.eventId, 'vigil.version': event.version });
      const size = Buffer.byteLength(JSON.stringify(event)) + 64;
      if (this.outbox.bytes + size > (this.options.maxBufferBytes ?? 64 * 2 ** 20)) {
        this.droppedStateChanges += 1;
        this.logger.warn(
          { agentId: this.agentId, entityId: entity.id, bufferBytes: this.outbox.bytes },
          'buffer full: state change dropped',
        );
        return { accepted: false, reason: 'buffer full' };
      }
      this.versions.next(entity.id);
      const carrier = injectTraceContext({}, trace.setSpan(context.active(), span));
      const outcome = await this.outbox.accept({ event, traceparent: carrier.traceparent?.toString() });
      if (!outcome.durable) {
        this.logger.error({ err: outcome.error }, 'journal write failed: state changes not accepted');
        return { accepted: false, reason: `journal write failed: ${outcome.error}` };
      }
      return { accepted: true, eventId: event.eventId, version: event.version };
    } finally {
      span.end();
    }
  }

  /**
   * Sends a heartbeat every intervalMs until close() (which ends with a `stopping` heartbeat, so
   * Vigil deregisters the agent instead of declaring it dead) or stopHeartbeats(). `report` is asked
   * for the status, metrics and checks of each one. The timer does not keep the process alive.
   */
  startHeartbeats(report: () => HeartbeatReport = () => ({})): void {
    if (!this.closed) this.heartbeats.startAutomatic(report);
  }

  /** Stops the automatic heartbeats without a `stopping` one: to Vigil the agent goes silent. */
  stopHeartbeats(): void {
    this.heartbeats.stopAutomatic();
  }

  /** Queues a heartbeat; never blocks. While Kafka is away only the newest few are kept. */
  heartbeat(
    status: AgentReportedStatus = 'ok',
    metrics: Record<string, number> = {},
    checks: HealthCheck[] = [],
  ): void {
    if (!this.closed) this.heartbeats.enqueue(status, metrics, checks);
  }

  stats(): PublisherStats {
    return {
      pending: this.outbox.pending,
      bufferBytes: this.outbox.bytes,
      ...this.sender.counts,
      droppedStateChanges: this.droppedStateChanges,
      droppedHeartbeats: this.heartbeats.counts.dropped,
      connected: this.link.connected,
    };
  }

  /**
   * Stops accepting, makes every accepted change durable, tries to deliver what is pending for at
   * most timeoutMs, and releases Kafka. What is not delivered stays in the journal for next time.
   * An agent that has been heartbeating ends with a `stopping` heartbeat (Vigil deregisters it, no
   * failure); `deregister: false` leaves it to be found dead, as after a crash.
   */
  async close(timeoutMs = 2000, options: { deregister?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    const deregister = options.deregister ?? (this.heartbeats.automatic || this.heartbeats.counts.sent > 0);
    this.heartbeats.stopAutomatic();
    if (deregister) this.heartbeats.enqueue('stopping', {}, []);
    this.closed = true;
    await this.outbox.flush();
    const deadline = Date.now() + timeoutMs;
    while ((this.outbox.queued > 0 || this.heartbeats.queued > 0) && Date.now() < deadline && this.link.connected) {
      await sleep(20);
    }
    await Promise.race([
      Promise.all([this.sender.stop(), this.heartbeats.stop()]),
      sleep(Math.max(0, deadline - Date.now()) + 100),
    ]);
    await this.outbox.close();
    await this.ownConnection?.close();
  }

  private readonly now = () => (this.options.now ?? Date.now)();
}

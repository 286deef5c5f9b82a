import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { context, SpanKind, trace } from '@opentelemetry/api';
import {
  SchemaCodec,
  Topics,
  type HealthCheck,
  type Heartbeat,
  type AgentReportedStatus,
  type StateChangeEvent,
  type StateChangeType,
} from '@vigil/events';
import {
  createKafkaClient,
  EventProducer,
  extractTraceContext,
  injectTraceContext,
  stderrLogger,
  type EventsLogger,
} from '@vigil/kafka';
import { Journal, writeAtomically, type JournalRecord } from './journal';

/**
 * A Kafka producer and schema registry client that several publishers in one process can share
 * (agents that run side by side on one host, a simulated fleet); each publisher keeps its own
 * journal, versions and heartbeats. The owner closes it after the publishers.
 */
export class AgentConnection {
  readonly producer: EventProducer;
  /** Heartbeats go out best effort, on a producer of their own (see sendHeartbeats). */
  private readonly heartbeatProducer: EventProducer;
  private beats: Array<{ beats: Heartbeat[]; resolve: () => void; reject: (e: Error) => void }> = [];
  private sendingBeats = false;

  constructor(options: { brokers: string[]; registryUrl: string; clientId?: string; logger?: EventsLogger }) {
    const kafka = createKafkaClient({
      brokers: options.brokers,
      clientId: options.clientId ?? `vigil-agents-${os.hostname()}`,
      logger: quietKafka(options.logger ?? stderrLogger),
    });
    const codec = new SchemaCodec({ registryUrl: options.registryUrl });
    this.producer = new EventProducer(kafka, codec);
    this.heartbeatProducer = new EventProducer(kafka, codec, { bestEffort: { retries: 1, maxRetryTimeMs: 500 } });
  }

  /**
   * Sends heartbeats of any number of publishers: what arrives while a send is in flight goes out
   * together in the next one, so a thousand agents on one connection make a few requests, not a
   * thousand. Best effort with few retries: a heartbeat that cannot go out soon is worthless, the
   * next one replaces it, and after an outage beats must resume at once (an idempotent producer
   * would still be sleeping in its own retry backoff, up to 30 s).
   */
  sendHeartbeats(beats: Heartbeat[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.beats.push({ beats, resolve, reject });
      if (!this.sendingBeats) {
        this.sendingBeats = true;
        setImmediate(() => void this.drainHeartbeats());
      }
    });
  }

  private async drainHeartbeats(): Promise<void> {
    while (this.beats.length > 0) {
      const waiting = this.beats;
      this.beats = [];
      try {
        await this.heartbeatProducer.send(
          Topics.heartbeats,
          waiting.flatMap((w) => w.beats.map((value) => ({ value }))),
        );
        for (const w of waiting) w.resolve();
      } catch (e) {
        for (const w of waiting) w.reject(e as Error);
      }
    }
    this.sendingBeats = false;
  }

  async close(): Promise<void> {
    await Promise.race([
      Promise.all([this.producer.disconnect(), this.heartbeatProducer.disconnect()]).catch(() => undefined),
      sleep(1000),
    ]);
  }
}

/** What the agent reports in each automatic heartbeat; asked for just before it is sent. */
export interface HeartbeatReport {
  status?: AgentReportedStatus;
  metrics?: Record<string, number>;
  checks?: HealthCheck[];
}

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
  heartbeat?: Partial<
    Pick<
      Heartbeat,
      'intervalMs' | 'missThreshold' | 'startPeriodMs' | 'agentVersion' | 'priorityTier' | 'dependencies' | 'labels'
    >
  >;
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

interface Stored {
  event: StateChangeEvent;
  traceparent?: string;
}

interface PendingWrite {
  stored: Stored;
  resolve: (r: PublishReceipt) => void;
}

/**
 * The agent's side of Vigil. `publishStateChange` assigns the event id and the entity's next
 * version, writes the event to an on-disk journal (group commit, fdatasync) and resolves once it is
 * durable; a background sender delivers the journal to Kafka in order, with the idempotent producer,
 * and backs off with jitter while Kafka is unreachable. After a restart (even a SIGKILL) the journal
 * is replayed: undelivered events go out in their original order with their original ids, so a
 * retry never creates a second event id. Nothing here throws into the host or rejects a promise.
 */
export class AgentPublisher {
  private readonly versions = new Map<string, number>();
  private readonly sendQueue: Array<JournalRecord<Stored>> = [];
  private readonly heartbeats: Heartbeat[] = [];
  private heartbeatTimer?: NodeJS.Timeout;
  private heartbeatWake?: () => void;
  private heartbeatSender?: Promise<void>;
  private heartbeatsSent = 0;
  private writes: PendingWrite[] = [];
  private flushing?: Promise<void>;
  private wake?: () => void;
  private closed = false;
  private sender?: Promise<void>;
  private heartbeatSeq = 0;
  private readonly bootId = randomUUID();
  private readonly producer: EventProducer;
  private readonly connection: AgentConnection;
  private readonly ownConnection?: AgentConnection;
  private readonly logger: EventsLogger;
  private lastFailureLog = 0;
  private readonly stat: PublisherStats = {
    pending: 0,
    bufferBytes: 0,
    delivered: 0,
    sendAttempts: 0,
    sendFailures: 0,
    droppedStateChanges: 0,
    droppedHeartbeats: 0,
    connected: false,
  };

  private constructor(
    private readonly options: AgentPublisherOptions,
    private readonly journal: Journal<Stored>,
    replayed: Array<JournalRecord<Stored>>,
  ) {
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
    this.producer = this.connection.producer;
    this.sendQueue.push(...replayed.filter((r) => r.seq > journal.acked));
  }

  /** Opens the journal in dataDir (replaying what a previous run left undelivered) and starts sending. */
  static open(options: AgentPublisherOptions): AgentPublisher {
    const versions = new Map<string, number>();
    const versionsFile = path.join(options.dataDir, 'versions.json');
    if (existsSync(versionsFile)) {
      for (const [k, v] of Object.entries(JSON.parse(readFileSync(versionsFile, 'utf8')) as Record<string, number>))
        versions.set(k, v);
    }
    const replayed: Array<JournalRecord<Stored>> = [];
    const journal = Journal.open<Stored>(
      { dir: path.join(options.dataDir, 'journal'), segmentBytes: options.segmentBytes ?? 8 * 2 ** 20 },
      (r) => {
        replayed.push(r);
        versions.set(r.data.event.entityId, Math.max(versions.get(r.data.event.entityId) ?? 0, r.data.event.version));
      },
    );
    const publisher = new AgentPublisher(options, journal, replayed);
    for (const [k, v] of versions) publisher.versions.set(k, v);
    if (publisher.sendQueue.length > 0) {
      publisher.logger.info(
        { agentId: options.agentId, undelivered: publisher.sendQueue.length },
        'replaying undelivered state changes',
      );
    }
    publisher.sender = publisher
      .sendLoop()
      .catch((e: Error) => publisher.logger.error({ err: e.message }, 'sender stopped'));
    publisher.heartbeatSender = publisher
      .heartbeatLoop()
      .catch((e: Error) => publisher.logger.error({ err: e.message }, 'heartbeat sender stopped'));
    return publisher;
  }

  /** The version the entity's next change will get, minus one (0 for an entity never published). */
  versionOf(entityId: string): number {
    return this.versions.get(entityId) ?? 0;
  }

  publishStateChange(
    entity: { id: string; type: string },
    eventType: StateChangeType,
    payload: unknown,
    checksum: string | null = null,
  ): Promise<PublishReceipt> {
    if (this.closed) return Promise.resolve({ accepted: false, reason: 'publisher is closed' });
    const span = trace.getTracer('@vigil/agent-sdk').startSpan('agent publishStateChange', {
      kind: SpanKind.PRODUCER,
      attributes: { 'vigil.agent.id': this.options.agentId, 'vigil.entity.id': entity.id },
    });
    const carrier = injectTraceContext({}, trace.setSpan(context.active(), span));
    let payloadJson: string | null;
    try {
      payloadJson = eventType === 'deleted' ? null : JSON.stringify(payload ?? null);
    } catch (e) {
      span.end();
      return Promise.resolve({ accepted: false, reason: `payload is not serialisable: ${(e as Error).message}` });
    }
    const version = this.versionOf(entity.id) + 1;
    const event: StateChangeEvent = {
      eventId: randomUUID(),
      entityId: entity.id,
      entityType: entity.type,
      agentId: this.options.agentId,
      eventType,
      version,
      timestamp: (this.options.now ?? Date.now)(),
      payload: payloadJson,
      checksum,
    };
    const size = Buffer.byteLength(JSON.stringify(event)) + 64;
    if (this.journal.bytes + size > (this.options.maxBufferBytes ?? 64 * 2 ** 20)) {
      this.stat.droppedStateChanges += 1;
      this.logger.warn(
        { agentId: this.options.agentId, entityId: entity.id, bufferBytes: this.journal.bytes },
        'buffer full: state change dropped',
      );
      span.end();
      return Promise.resolve({ accepted: false, reason: 'buffer full' });
    }
    this.versions.set(entity.id, version);
    return new Promise<PublishReceipt>((resolve) => {
      this.writes.push({
        stored: { event, traceparent: carrier.traceparent?.toString() },
        resolve: (r) => {
          span.end();
          resolve(r);
        },
      });
      this.scheduleFlush();
    });
  }

  /**
   * Sends a heartbeat every intervalMs until close() (which ends with a `stopping` heartbeat, so
   * Vigil deregisters the agent instead of declaring it dead) or stopHeartbeats(). `report` is asked
   * for the status, metrics and checks of each one. The timer does not keep the process alive.
   */
  startHeartbeats(report: () => HeartbeatReport = () => ({})): void {
    if (this.closed || this.heartbeatTimer) return;
    const beat = () => {
      let r: HeartbeatReport = {};
      try {
        r = report();
      } catch (e) {
        r = { status: 'degraded', checks: [{ name: 'report', ok: false, detail: (e as Error).message }] };
      }
      this.heartbeat(r.status ?? 'ok', r.metrics ?? {}, r.checks ?? []);
    };
    beat();
    this.heartbeatTimer = setInterval(beat, this.heartbeatIntervalMs);
    this.heartbeatTimer.unref();
  }

  /** Stops the automatic heartbeats without a `stopping` one: to Vigil the agent goes silent. */
  stopHeartbeats(): void {
    clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  /** Queues a heartbeat; never blocks. While Kafka is away only the newest few are kept. */
  heartbeat(
    status: AgentReportedStatus = 'ok',
    metrics: Record<string, number> = {},
    checks: HealthCheck[] = [],
  ): void {
    if (this.closed) return;
    this.queueHeartbeat(status, metrics, checks);
  }

  private queueHeartbeat(status: AgentReportedStatus, metrics: Record<string, number>, checks: HealthCheck[]): void {
    const hb = this.options.heartbeat ?? {};
    this.heartbeats.push({
      agentId: this.options.agentId,
      host: this.options.host ?? os.hostname(),
      status,
      sequence: this.heartbeatSeq++,
      bootId: this.bootId,
      timestamp: (this.options.now ?? Date.now)(),
      intervalMs: this.heartbeatIntervalMs,
      missThreshold: hb.missThreshold ?? 3,
      startPeriodMs: hb.startPeriodMs ?? 0,
      agentVersion: hb.agentVersion ?? '',
      priorityTier: hb.priorityTier ?? 2,
      dependencies: hb.dependencies ?? [],
      labels: hb.labels ?? {},
      checks,
      metrics,
    });
    for (let dropped = this.dropOldestHeartbeats(); dropped > 0; dropped--) {
      this.logger.warn({ agentId: this.options.agentId }, 'heartbeat dropped: Kafka unreachable and the queue is full');
    }
    this.heartbeatWake?.();
  }

  private get heartbeatIntervalMs(): number {
    return this.options.heartbeat?.intervalMs ?? 1000;
  }

  /** Keeps the newest maxQueuedHeartbeats, counting each one dropped; returns how many were. */
  private dropOldestHeartbeats(): number {
    const excess = Math.max(0, this.heartbeats.length - (this.options.maxQueuedHeartbeats ?? 5));
    this.heartbeats.splice(0, excess);
    this.stat.droppedHeartbeats += excess;
    return excess;
  }

  stats(): PublisherStats {
    return { ...this.stat, pending: this.sendQueue.length + this.writes.length, bufferBytes: this.journal.bytes };
  }

  /**
   * Stops accepting, makes every accepted change durable, tries to deliver what is pending for at
   * most timeoutMs, and releases Kafka. What is not delivered stays in the journal for next time.
   * An agent that has been heartbeating ends with a `stopping` heartbeat (Vigil deregisters it, no
   * failure); `deregister: false` leaves it to be found dead, as after a crash.
   */
  async close(timeoutMs = 2000, options: { deregister?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    const deregister = options.deregister ?? (this.heartbeatTimer !== undefined || this.heartbeatsSent > 0);
    this.stopHeartbeats();
    if (deregister) this.queueHeartbeat('stopping', {}, []);
    await this.flush();
    const deadline = Date.now() + timeoutMs;
    while ((this.sendQueue.length > 0 || this.heartbeats.length > 0) && Date.now() < deadline && this.stat.connected) {
      await sleep(20);
    }
    this.closed = true;
    this.wake?.();
    this.heartbeatWake?.();
    await Promise.race([
      Promise.all([this.sender, this.heartbeatSender]),
      sleep(Math.max(0, deadline - Date.now()) + 100),
    ]);
    this.snapshotVersions();
    await this.journal.close();
    await this.ownConnection?.close();
  }

  private scheduleFlush(): void {
    if (!this.flushing) this.flushing = new Promise<void>((r) => setImmediate(r)).then(() => this.flush());
  }

  /** Group commit: one write and one fdatasync for everything accepted since the last flush. */
  private async flush(): Promise<void> {
    const batch = this.writes;
    this.writes = [];
    this.flushing = undefined;
    if (batch.length === 0) return;
    const { records, buffer } = this.journal.frame(batch.map((w) => w.stored));
    try {
      await this.journal.appendDurably(records, buffer);
    } catch (e) {
      this.logger.error({ err: (e as Error).message }, 'journal write failed: state changes not accepted');
      for (const w of batch) {
        this.versions.set(
          w.stored.event.entityId,
          Math.min(this.versionOf(w.stored.event.entityId), w.stored.event.version - 1),
        );
        w.resolve({ accepted: false, reason: `journal write failed: ${(e as Error).message}` });
      }
      return;
    }
    this.sendQueue.push(...records);
    for (const w of batch)
      w.resolve({ accepted: true, eventId: w.stored.event.eventId, version: w.stored.event.version });
    this.wake?.();
    if (this.writes.length > 0) this.scheduleFlush();
  }

  private async sendLoop(): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      if (this.sendQueue.length === 0) {
        await new Promise<void>((r) => (this.wake = r));
        this.wake = undefined;
        continue;
      }
      this.stat.sendAttempts += 1;
      try {
        const batch = this.sendQueue.slice(0, this.options.sendBatchSize ?? 500);
        if (batch.length > 0) {
          await this.producer.send(
            Topics.stateChanges,
            batch.map((r) => ({
              value: r.data.event,
              context: extractTraceContext(r.data.traceparent ? { traceparent: r.data.traceparent } : {}),
            })),
          );
          this.sendQueue.splice(0, batch.length);
          this.stat.delivered += batch.length;
          this.journal.ack(batch.at(-1)!.seq, () => this.snapshotVersions());
        }
        if (!this.stat.connected) this.logger.info({ agentId: this.options.agentId }, 'connected to Kafka');
        this.stat.connected = true;
        failures = 0;
      } catch (e) {
        failures += 1;
        this.stat.sendFailures += 1;
        this.stat.connected = false;
        if (Date.now() - this.lastFailureLog > 10000) {
          this.lastFailureLog = Date.now();
          this.logger.warn(
            { agentId: this.options.agentId, err: (e as Error).message, pending: this.sendQueue.length },
            'Kafka unreachable; buffering on disk',
          );
        }
        // Exponential backoff with full jitter: no busy loop, and a fleet does not retry in lockstep.
        const ceiling = Math.min(this.options.maxBackoffMs ?? 30000, 250 * 2 ** Math.min(failures, 10));
        await this.sleepUnlessClosed(ceiling / 2 + Math.random() * (ceiling / 2));
      }
    }
  }

  /**
   * Heartbeats have a sender of their own: a state-change send stuck in the producer's retries
   * (a long outage, a big backlog) must not hold back the proof of life.
   */
  private async heartbeatLoop(): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      if (this.heartbeats.length === 0) {
        await new Promise<void>((r) => (this.heartbeatWake = r));
        this.heartbeatWake = undefined;
        continue;
      }
      const beats = this.heartbeats.splice(0);
      try {
        await this.connection.sendHeartbeats(beats);
        this.heartbeatsSent += beats.length;
        this.stat.connected = true;
        failures = 0;
      } catch (e) {
        failures += 1;
        this.stat.connected = false;
        // Put back what is still fresh, ahead of anything queued meanwhile, within the cap.
        this.heartbeats.unshift(...beats);
        this.dropOldestHeartbeats();
        this.logger.debug({ agentId: this.options.agentId, err: (e as Error).message }, 'heartbeat send failed');
        // Retry at least once per interval: a beat is small, and an agent whose beats resume late
        // after an outage looks dead.
        const ceiling = Math.min(
          this.options.maxBackoffMs ?? 30000,
          this.heartbeatIntervalMs,
          250 * 2 ** Math.min(failures, 10),
        );
        await this.sleepUnlessClosed(ceiling / 2 + Math.random() * (ceiling / 2));
      }
    }
  }

  private async sleepUnlessClosed(ms: number): Promise<void> {
    const until = Date.now() + ms;
    while (!this.closed && Date.now() < until) await sleep(Math.min(100, until - Date.now()));
  }

  private snapshotVersions(): void {
    if (this.versions.size === 0) return; // nothing published: nothing to remember, no files
    try {
      writeAtomically(
        path.join(this.options.dataDir, 'versions.json'),
        JSON.stringify(Object.fromEntries(this.versions)),
      );
    } catch (e) {
      this.logger.error({ err: (e as Error).message }, 'could not persist entity versions');
    }
  }
}

// KafkaJS reports every failed connection attempt at ERROR; for a guest in someone else's process
// that is noise, and the sender logs outages itself (at most every 10 s).
function quietKafka(logger: EventsLogger): EventsLogger {
  return { debug: () => undefined, info: () => undefined, warn: () => undefined, error: (o, m) => logger.debug(o, m) };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

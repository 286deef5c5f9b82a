import os from 'node:os';
import { SchemaCodec, Topics, type Heartbeat } from '@vigil/events';
import {
  createKafkaClient,
  EventProducer,
  stderrLogger,
  type EventsLogger,
  type KafkaClient,
  type KafkaSecurity,
} from '@vigil/kafka';

export interface AgentConnectionOptions {
  brokers: string[];
  registryUrl: string;
  clientId?: string;
  logger?: EventsLogger;
  /** SASL and TLS to Kafka (kafkaSecurityFromEnv reads the KAFKA_SASL_* and KAFKA_TLS* variables). */
  security?: KafkaSecurity;
  /** Basic auth to the schema registry. */
  registryAuth?: { username: string; password: string };
}

/**
 * A Kafka client, producers and a schema registry client that several publishers in one process can
 * share (agents that run side by side on one host, a simulated fleet); each publisher keeps its own
 * journal, versions and heartbeats. The owner closes it after the publishers.
 */
export class AgentConnection {
  readonly kafka: KafkaClient;
  readonly codec: SchemaCodec;
  readonly producer: EventProducer;
  /** Heartbeats go out best effort, on a producer of their own (see sendHeartbeats). */
  private readonly heartbeatProducer: EventProducer;
  private beats: Array<{ beats: Heartbeat[]; resolve: () => void; reject: (e: Error) => void }> = [];
  private sendingBeats = false;

  constructor(options: AgentConnectionOptions) {
    this.kafka = createKafkaClient({
      brokers: options.brokers,
      clientId: options.clientId ?? `vigil-agents-${os.hostname()}`,
      logger: quietKafka(options.logger ?? stderrLogger),
      security: options.security,
    });
    this.codec = new SchemaCodec({ registryUrl: options.registryUrl, auth: options.registryAuth });
    this.producer = new EventProducer(this.kafka, this.codec);
    this.heartbeatProducer = new EventProducer(this.kafka, this.codec, {
      bestEffort: { retries: 1, maxRetryTimeMs: 500 },
    });
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

// KafkaJS reports every failed connection attempt at ERROR; for a guest in someone else's process
// that is noise, and the senders log outages themselves (at most every 10 s).
function quietKafka(logger: EventsLogger): EventsLogger {
  return { debug: () => undefined, info: () => undefined, warn: () => undefined, error: (o, m) => logger.debug(o, m) };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

import os from 'node:os';
import { SchemaCodec, Topics, type Heartbeat } from '@vigil/events';
import {
  createKafkaClient,
  EventProducer,
  partitionOfKey,
  stderrLogger,
  type EventsLogger,
  type KafkaClient,
  type KafkaSecurity,
} from '@vigil/kafka';
import { CoalescingLane, type LaneOutcome } from './coalescing-lane';

/** How long after a failed heartbeat send each partition keeps a send of its own. */
const SPLIT_AFTER_FAILURE_MS = 60_000;

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
  private readonly heartbeatLane = new CoalescingLane<Heartbeat>((beats) => this.sendBeats(beats));
  /** Until when heartbeats go out one send per partition (see sendBeats). */
  private splitUntil = 0;

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
   * Sends heartbeats of any number of publishers, coalesced (see CoalescingLane). Best effort with
   * few retries: a heartbeat that cannot go out soon is worthless, the next one replaces it, and
   * after an outage beats must resume at once (an idempotent producer would still be sleeping in
   * its own retry backoff, up to 30 s).
   */
  sendHeartbeats(beats: Heartbeat[]): Promise<void> {
    return this.heartbeatLane.send(beats);
  }

  /**
   * One request per broker for everything, as long as that works. But one send is held up by its
   * worst partition: while a dead broker still leads some (until the controller fences it, 9 s by
   * default), KafkaJS fails the whole send before writing anything, and every agent on the
   * connection would fall silent, not only those whose partition cannot take writes. So after a
   * failure, and for a while after the last one, each partition goes in a send of its own. Not
   * always: at 10k agents a send per partition per round costs the senders enough CPU to delay
   * beats (bench/heartbeat-detection counted 732 false suspects).
   */
  private async sendBeats(beats: Heartbeat[]): Promise<LaneOutcome<Heartbeat>> {
    const send = (list: Heartbeat[]) =>
      this.heartbeatProducer.send(
        Topics.heartbeats,
        list.map((value) => ({ value })),
      );
    if (Date.now() >= this.splitUntil) {
      try {
        await send(beats);
        return;
      } catch {
        this.splitUntil = Date.now() + SPLIT_AFTER_FAILURE_MS;
      }
    }
    const byPartition = new Map<number, Heartbeat[]>();
    for (const b of beats) {
      // The catalogue's partition count: were the topic to have more, sends would only isolate less.
      const p = partitionOfKey(Topics.heartbeats.key(b), Topics.heartbeats.partitions);
      const list = byPartition.get(p);
      if (list) list.push(b);
      else byPartition.set(p, [b]);
    }
    const failed = new Map<Heartbeat, Error>();
    await Promise.all(
      [...byPartition.values()].map((list) =>
        send(list).catch((e: Error) => {
          for (const b of list) failed.set(b, e);
        }),
      ),
    );
    if (failed.size > 0) this.splitUntil = Date.now() + SPLIT_AFTER_FAILURE_MS;
    return failed;
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

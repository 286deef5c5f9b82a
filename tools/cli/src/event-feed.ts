import { randomUUID } from 'node:crypto';
import {
  SchemaCodec,
  Topics,
  type AgentLivenessChanged,
  type AlertEvent,
  type BackupVerified,
  type HealCommand,
  type HealResult,
  type TopicDef,
} from '@vigil/events';
import {
  createKafkaClient,
  kafkaSecurityFromEnv,
  parseBrokers,
  registryAuthFromEnv,
  type EventsLogger,
} from '@vigil/kafka';
import type { Endpoints } from './endpoints';

/** The topics whose records are the fleet's story as an operator follows it. */
export const FEED_TOPICS = [
  Topics.liveness,
  Topics.healCommands,
  Topics.healResults,
  Topics.alerts,
  Topics.backupVerified,
];

export interface FeedLine {
  at: number;
  text: string;
}

/** The trace id in a W3C traceparent header (`00-<trace id>-<span id>-<flags>`). */
export function traceIdOf(traceparent: Buffer | string | undefined): string | null {
  const m = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(traceparent?.toString() ?? '');
  return m ? m[1]! : null;
}

/** One record as a line of the feed; null for records not worth a line. */
export function feedLine(topic: string, value: unknown): string | null {
  switch (topic) {
    case Topics.liveness.name: {
      const v = value as AgentLivenessChanged;
      return `${v.agentId} ${v.from} -> ${v.to}${v.reason ? ` (${v.reason})` : ''}`;
    }
    case Topics.healCommands.name: {
      const v = value as HealCommand;
      return `heal ${v.agentId}: ${v.action}, attempt ${v.attempt}`;
    }
    case Topics.healResults.name: {
      const v = value as HealResult;
      return `heal ${v.agentId}: attempt ${v.attempt} ${v.success ? 'worked' : `failed${v.error ? `: ${v.error}` : ''}`}`;
    }
    case Topics.alerts.name: {
      const v = value as AlertEvent;
      return `alert ${v.status === 'firing' ? 'FIRING' : 'resolved'} ${v.alertName} ${v.agentId ?? v.groupKey}: ${v.summary}`;
    }
    case Topics.backupVerified.name: {
      const v = value as BackupVerified;
      return `backup ${v.agentId} ${v.kind} ${v.verdict}${v.reason ? `: ${v.reason}` : ''}`;
    }
    default:
      return null;
  }
}

const quiet: EventsLogger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * Follows the feed topics from now on, in a throwaway group that commits nothing, keeping the
 * newest lines. Best effort by design: a watcher that cannot reach Kafka still shows the table.
 */
export class EventFeed {
  readonly lines: FeedLine[] = [];
  error: string | null = null;
  /** The trace of the newest agent gone unreachable: a heal chain to open in the trace UI. */
  healChainTrace: string | null = null;
  /**
   * Verified backups are routine and come in bursts (a schedule slot fires for the whole fleet):
   * counted here rather than listed, so they never push a liveness change or an alert off the feed.
   */
  readonly verifiedBackups = { count: 0, newest: null as { agentId: string; at: number } | null };
  private readonly kafka;
  private readonly codec: SchemaCodec;
  private consumer: ReturnType<ReturnType<typeof createKafkaClient>['consumer']> | null = null;

  constructor(
    endpoints: Endpoints,
    private readonly keep = 15,
  ) {
    this.kafka = createKafkaClient({
      clientId: 'vigil-cli-watch',
      brokers: parseBrokers(endpoints.kafkaBrokers),
      security: kafkaSecurityFromEnv(),
      logger: quiet,
    });
    this.codec = new SchemaCodec({ registryUrl: endpoints.registryUrl, auth: registryAuthFromEnv() });
  }

  async start(): Promise<void> {
    const consumer = this.kafka.consumer({ groupId: `vigil-cli-watch-${randomUUID()}`, allowAutoTopicCreation: false });
    this.consumer = consumer;
    const byName = new Map<string, TopicDef<unknown>>(FEED_TOPICS.map((t) => [t.name, t as TopicDef<unknown>]));
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [...byName.keys()], fromBeginning: false });
      await consumer.run({
        autoCommit: false,
        eachMessage: async ({ topic, message }) => {
          const decoded = await this.codec.decode(byName.get(topic)!, message.value);
          if (!decoded.ok) return;
          if (topic === Topics.backupVerified.name && (decoded.value as BackupVerified).verdict === 'verified') {
            this.verifiedBackups.count += 1;
            this.verifiedBackups.newest = {
              agentId: (decoded.value as BackupVerified).agentId,
              at: Number(message.timestamp),
            };
            return;
          }
          const text = feedLine(topic, decoded.value);
          if (!text) return;
          if (
            topic === Topics.liveness.name &&
            decoded.ok &&
            (decoded.value as AgentLivenessChanged).to === 'unreachable'
          ) {
            const header = message.headers?.traceparent;
            this.healChainTrace = traceIdOf(Array.isArray(header) ? header[0] : header) ?? this.healChainTrace;
          }
          this.lines.push({ at: Number(message.timestamp), text });
          if (this.lines.length > this.keep) this.lines.splice(0, this.lines.length - this.keep);
        },
      });
    } catch (e) {
      this.error = `event feed unavailable: ${(e as Error).message}`;
    }
  }

  async stop(): Promise<void> {
    await this.consumer?.disconnect().catch(() => undefined);
  }
}

// The one place that constructs KafkaJS. Services and the SDK get Kafka only through this lib, so a
// swap to a maintained client with a KafkaJS-compatible API is a change here and nowhere else.
import { Kafka, logLevel, type Admin, type Consumer, type KafkaMessage, type Producer, type LogEntry } from 'kafkajs';
import type { EventsLogger } from './logger';
import { clientLogLevel } from './client-log-level';
import { stderrLogger } from './logger';
import { kafkaJsSecurity, type KafkaSecurity } from './security';

export type { Admin as KafkaAdmin, Consumer as KafkaConsumer, Producer as KafkaProducer, KafkaMessage };
export type KafkaClient = Kafka;

export interface KafkaClientOptions {
  brokers: string[];
  clientId: string;
  logger?: EventsLogger;
  /** Connection and request timeouts; short defaults suit a local broker and fast failure detection. */
  connectionTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** SASL and TLS (see kafkaSecurityFromEnv); PLAINTEXT without. */
  security?: KafkaSecurity;
  /**
   * Called with the broker's words when it refuses this principal something (a group, a topic,
   * the cluster). KafkaJS retries such refusals or reports them as something else (a group it may
   * not use becomes "Failed to find group coordinator", retried for ever); a service stops on it.
   */
  onAuthorizationError?: (error: string) => void;
}

/** How the broker's refusals read in KafkaJS' logs (GROUP_/TOPIC_/CLUSTER_AUTHORIZATION_FAILED). */
const REFUSAL = /not authorized to access|authorization failed/i;

export function createKafkaClient(options: KafkaClientOptions): KafkaClient {
  const logger = options.logger ?? stderrLogger;
  return new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    connectionTimeout: options.connectionTimeoutMs ?? 3000,
    requestTimeout: options.requestTimeoutMs ?? 30000,
    ...kafkaJsSecurity(options.security),
    // Through our logger, tagged, at the level each line deserves (see clientLogLevel).
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log }: LogEntry) => {
        const { message, ...rest } = log;
        logger[clientLogLevel(level, rest)]({ component: 'kafkajs', ...rest }, message);
        const error = typeof rest.error === 'string' ? rest.error : '';
        if (REFUSAL.test(error)) options.onAuthorizationError?.(error);
      },
  });
}

/** Parses "host:port,host:port". */
export function parseBrokers(list: string): string[] {
  const brokers = list
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  for (const b of brokers) {
    if (!/^[^:\s]+:\d{1,5}$/.test(b)) throw new Error(`broker "${b}" is not host:port`);
  }
  if (brokers.length === 0) throw new Error('no Kafka brokers given');
  return brokers;
}

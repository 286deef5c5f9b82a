// Helpers for tests that run against a real broker and registry (never mocks of them).
import { randomUUID } from 'node:crypto';
import type { KafkaMessage } from 'kafkajs';
import { KafkaAdminFacade } from './admin';
import type { KafkaClient } from './kafka-client';
import type { EventsMetrics } from './metrics';
import type { TopicDef } from '@vigil/events';

export interface InfraEnv {
  brokers: string[];
  registryUrl: string;
  redisUrl: string;
}

/** Where the real infra answers: the env that infra/up.sh writes (.vigil/infra.env). */
export function infraEnv(): InfraEnv {
  const { KAFKA_BROKERS, SCHEMA_REGISTRY_URL, REDIS_URL } = process.env;
  if (!KAFKA_BROKERS || !SCHEMA_REGISTRY_URL) {
    throw new Error(
      'KAFKA_BROKERS and SCHEMA_REGISTRY_URL are not set: run `bash infra/up.sh` and `set -a; . .vigil/infra.env; set +a`, or use `npm test`',
    );
  }
  return {
    brokers: KAFKA_BROKERS.split(','),
    registryUrl: SCHEMA_REGISTRY_URL,
    redisUrl: REDIS_URL ?? 'redis://127.0.0.1:6379',
  };
}

/** A private copy of a catalogue topic (and its DLQ), so tests never see each other's records. */
export function isolatedTopic<T>(def: TopicDef<T>, overrides: Partial<TopicDef<T>> = {}): TopicDef<T> {
  const name = `${def.name}.test-${randomUUID().slice(0, 8)}`;
  return {
    ...def,
    ...overrides,
    name,
    dlq: def.dlq ? { ...def.dlq, name: `${name}.dlq` } : undefined,
  };
}

export async function waitUntil(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Reads a topic from the beginning with a throwaway group until `count` records arrived. */
export async function readRecords(
  kafka: KafkaClient,
  topic: string,
  count: number,
  timeoutMs = 30000,
): Promise<KafkaMessage[]> {
  const consumer = kafka.consumer({ groupId: `reader-${randomUUID()}` });
  const out: KafkaMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        out.push(message);
      },
    });
    await waitUntil(() => out.length >= count, timeoutMs, `${count} records on ${topic} (got ${out.length})`);
    return out;
  } finally {
    await consumer.disconnect();
  }
}

/** The group's committed offset per partition (-1 when nothing was committed). */
export async function committedOffsets(
  kafka: KafkaClient,
  groupId: string,
  topic: string,
): Promise<Map<number, bigint>> {
  const admin = new KafkaAdminFacade(kafka, 30000);
  try {
    return await admin.committedOffsets(groupId, topic);
  } finally {
    await admin.close();
  }
}

/** A decoded value as plain data (avsc decodes records into generated classes), for deep-equal checks. */
export function plain(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Buffer.isBuffer(value)) return value;
  if (Array.isArray(value)) return value.map(plain);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
}

/** EventsMetrics that remember every increment, so a test can ask what the runner counted. */
export function recordingMetrics(): EventsMetrics & {
  count(metric: keyof EventsMetrics, labels?: Record<string, string>): number;
} {
  const seen: Array<{ metric: keyof EventsMetrics; labels: Record<string, string | number>; value: number }> = [];
  const counter = (metric: keyof EventsMetrics) => ({
    inc: (labels: Record<string, string | number>, value = 1) => void seen.push({ metric, labels, value }),
  });
  return {
    recordsProcessed: counter('recordsProcessed'),
    deadLetters: counter('deadLetters'),
    batchFailures: counter('batchFailures'),
    partitionPauses: counter('partitionPauses'),
    count: (metric, labels = {}) =>
      seen
        .filter((s) => s.metric === metric && Object.entries(labels).every(([k, v]) => String(s.labels[k]) === v))
        .reduce((n, s) => n + s.value, 0),
  };
}

/** An error shaped as KafkaJS throws a broker's error code: what retry decisions are made on. */
export function protocolError(type: string): Error & { type: string } {
  return Object.assign(new Error(type), { name: 'KafkaJSProtocolError', type });
}

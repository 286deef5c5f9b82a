import { createHash } from 'node:crypto';
import type { Batch, KafkaMessage } from 'kafkajs';
import type { DeadLetter, TopicDef } from '@vigil/events';
import type { EventsLogger } from './logger';
import type { EventsMetrics } from './metrics';
import type { EventProducer } from './producer';
import type { Rejected } from './record-admission';

/**
 * Where refused records go: 'topic' writes them to `<topic>.dlq` with the reason; 'log' only logs
 * and counts them. Either way each gets a metric and a log line.
 */
export class DeadLetterWriter {
  constructor(
    private readonly options: {
      deadLetters?: 'topic' | 'log';
      producer?: EventProducer;
      groupId: string;
      logger: EventsLogger;
      metrics?: EventsMetrics;
    },
  ) {}

  async write(def: TopicDef<unknown>, batch: Batch, rejected: Rejected[]): Promise<void> {
    if (rejected.length === 0) return;
    if (this.options.deadLetters === 'log') {
      for (const { message, reason, error } of rejected) {
        this.options.metrics?.deadLetters.inc({ topic: batch.topic, reason });
        this.options.logger.warn(
          { topic: batch.topic, partition: batch.partition, offset: message.offset, reason, error },
          'record refused (logged, not dead-lettered)',
        );
      }
      return;
    }
    if (!def.dlq) throw new Error(`${def.name} has no dead-letter topic`);
    if (!this.options.producer) throw new Error('a dead-letter topic needs a producer');
    const now = Date.now();
    const letters: DeadLetter[] = rejected.map(({ message, reason, error }) =>
      fitDeadLetter({
        topic: batch.topic,
        partition: batch.partition,
        offset: Number(message.offset),
        key: message.key ?? null,
        value: message.value ?? null,
        headers: headerBytes(message.headers),
        timestamp: Number(message.timestamp),
        reason,
        error,
        consumerGroup: this.options.groupId,
        failedAt: now,
      }),
    );
    // EventProducer splits a send into requests of at most 512 KiB; each letter fits one on its own.
    await this.options.producer.send(
      def.dlq,
      letters.map((value) => ({ value })),
    );
    for (const l of letters) {
      this.options.metrics?.deadLetters.inc({ topic: l.topic, reason: l.reason });
      this.options.logger.warn(
        { topic: l.topic, partition: l.partition, offset: l.offset, reason: l.reason, error: l.error },
        'record dead-lettered',
      );
    }
  }
}

function headerBytes(headers: KafkaMessage['headers']): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(headers ?? {})) {
    if (v === undefined) continue;
    const first = Array.isArray(v) ? v[0] : v;
    if (first !== undefined) out[k] = Buffer.isBuffer(first) ? first : Buffer.from(first);
  }
  return out;
}

/**
 * A dead letter must fit the dead-letter topic even when the refused record filled the broker's
 * limit (an oversized value, a huge key or headers): otherwise its send fails, the batch is retried
 * forever and everything valid behind it waits. The default is what EventProducer puts in one
 * request, half of Kafka's default 1 MiB record batch limit.
 */
export const DEFAULT_MAX_LETTER_BYTES = 512 * 1024;
/** The fixed fields' share of a letter (topic, group, timestamps, Avro framing), generously. */
const ENVELOPE_BYTES = 1024;
/** What is kept of a cut key, header or error: ids are at most 256 characters, errors a sentence. */
const CUT_BYTES = 1024;

/**
 * The letter as written: the original value's size and SHA-256 always; if the whole is over
 * maxBytes, key, headers and error cut to CUT_BYTES each and the value to its first bytes (its schema
 * id and the fields that decoded, usually enough to see what went wrong), marked truncated.
 */
export function fitDeadLetter(letter: DeadLetter, maxBytes = DEFAULT_MAX_LETTER_BYTES): DeadLetter {
  const described: DeadLetter = {
    ...letter,
    truncated: false,
    valueBytes: letter.value?.length ?? null,
    valueSha256: letter.value ? createHash('sha256').update(letter.value).digest('hex') : null,
  };
  if (letterBytes(described) <= maxBytes) return described;
  const cut: DeadLetter = {
    ...described,
    truncated: true,
    key: letter.key && letter.key.length > CUT_BYTES ? letter.key.subarray(0, CUT_BYTES) : letter.key,
    error: letter.error.length > CUT_BYTES ? `${letter.error.slice(0, CUT_BYTES)}…` : letter.error,
    headers: cutHeaders(letter.headers),
    value: null,
  };
  const room = Math.max(0, maxBytes - letterBytes(cut));
  return { ...cut, value: letter.value ? letter.value.subarray(0, room) : null };
}

function cutHeaders(headers: Record<string, Buffer>): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  let total = 0;
  for (const [name, value] of Object.entries(headers)) {
    if (Buffer.byteLength(name) > CUT_BYTES) continue;
    const kept = value.length > CUT_BYTES ? value.subarray(0, CUT_BYTES) : value;
    total += Buffer.byteLength(name) + kept.length;
    // Thousands of small headers add up too: past 16 KiB, the rest are dropped.
    if (total > 16 * CUT_BYTES) break;
    out[name] = kept;
  }
  return out;
}

/** An upper bound of the letter's encoded size: its variable fields plus the envelope's share. */
function letterBytes(l: DeadLetter): number {
  let headers = 0;
  for (const [name, value] of Object.entries(l.headers)) headers += Buffer.byteLength(name) + value.length + 20;
  return (
    ENVELOPE_BYTES +
    (l.key?.length ?? 0) +
    (l.value?.length ?? 0) +
    headers +
    Buffer.byteLength(l.error) +
    Buffer.byteLength(l.topic) +
    Buffer.byteLength(l.consumerGroup)
  );
}

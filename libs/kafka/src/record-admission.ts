import { SpanKind, trace, type Context, type Span } from '@opentelemetry/api';
import type { Batch, KafkaMessage } from 'kafkajs';
import type { DeadLetterReason, DecodeOutcome, SchemaCodec, TopicDef } from '@vigil/events';
import { eventsTracer, extractTraceContext, type RecordHeaders } from './tracing';

/** A decoded, valid record handed to a handler. */
export interface ConsumedRecord<T> {
  topic: string;
  partition: number;
  offset: string;
  key: string;
  value: T;
  headers: RecordHeaders;
  /** The record's Kafka timestamp (broker append time on LogAppendTime topics), epoch ms. */
  timestamp: number;
  schemaId: number;
  /** The value's bytes as they came (registry wire format): to forward the record without re-encoding it. */
  bytes: Buffer | null;
  /** The consumer span of this record, parented by the producer's: pass it on to what you publish. */
  context: Context;
}

/** A record refused before its handler saw it, and why. */
export interface Rejected {
  message: KafkaMessage;
  reason: DeadLetterReason;
  error: string;
}

/** What admitting a record comes to: refused with a reason, or handed on with its consumer span. */
export type Admission = Rejected | { record: ConsumedRecord<unknown>; span: Span };

const DEFAULT_MAX_VALUE_BYTES = 512 * 1024;
/** Keys are ids (at most 256 characters, 1 KiB of UTF-8): a longer one is hostile or a bug. */
const MAX_KEY_BYTES = 1024;
const CONSUMER_SPAN = { kind: SpanKind.CONSUMER };

/**
 * Turns a fetched record into a handler's record (decoded, validated, its consumer span started) or
 * a refusal with its reason: a key, a size limit, the codec's outcome and the topic's validation.
 */
export class RecordAdmission {
  constructor(private readonly options: { codec: SchemaCodec; groupId: string; maxValueBytes?: number }) {}

  /** A promise only when the codec must ask the registry (a schema id not seen before). */
  accept(
    def: TopicDef<unknown>,
    batch: Batch,
    message: KafkaMessage,
    tombstones: boolean,
  ): Admission | Promise<Admission> {
    const maxBytes = this.options.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
    if (!message.key || message.key.length === 0) {
      return { message, reason: 'missing_key', error: 'record has no key' };
    }
    if (message.key.length > MAX_KEY_BYTES) {
      return { message, reason: 'oversized', error: `key is ${message.key.length} bytes, limit ${MAX_KEY_BYTES}` };
    }
    if (message.value && message.value.length > maxBytes) {
      return { message, reason: 'oversized', error: `value is ${message.value.length} bytes, limit ${maxBytes}` };
    }
    if (tombstones && message.value === null) return this.admit(def, batch, message, null, 0);
    const known = this.options.codec.decodeKnown(def, message.value);
    if (known) return this.validated(def, batch, message, known);
    return this.options.codec
      .decode(def, message.value)
      .then((outcome) => this.validated(def, batch, message, outcome));
  }

  private validated(
    def: TopicDef<unknown>,
    batch: Batch,
    message: KafkaMessage,
    decoded: DecodeOutcome<unknown>,
  ): Admission {
    if (!decoded.ok) return { message, reason: decoded.reason, error: decoded.error };
    const invalid = def.validate?.(decoded.value, Number(message.timestamp));
    if (invalid) return { message, reason: 'invalid_value', error: invalid };
    return this.admit(def, batch, message, decoded.value, decoded.schemaId);
  }

  private admit(
    def: TopicDef<unknown>,
    batch: Batch,
    message: KafkaMessage,
    value: unknown,
    schemaId: number,
  ): Admission {
    const timestamp = Number(message.timestamp);
    const key = message.key!.toString();
    const headers = (message.headers ?? {}) as RecordHeaders;
    const parent = extractTraceContext(headers);
    const span = eventsTracer().startSpan(`${def.name} process`, CONSUMER_SPAN, parent);
    // Attributes only for a span that is kept: with tracing off (or sampled out) they would be one
    // more object per record for nothing. No sampler of ours decides on them.
    if (span.isRecording())
      span.setAttributes({
        'messaging.system': 'kafka',
        'messaging.destination.name': def.name,
        'messaging.operation.type': 'process',
        'messaging.destination.partition.id': String(batch.partition),
        'messaging.kafka.offset': message.offset,
        'messaging.kafka.message.key': key,
        'messaging.consumer.group.name': this.options.groupId,
        ...(def.keyAttribute ? { [def.keyAttribute]: key } : {}),
      });
    return {
      span,
      record: {
        topic: batch.topic,
        partition: batch.partition,
        offset: message.offset,
        key,
        value,
        headers,
        timestamp,
        schemaId,
        bytes: message.value,
        context: trace.setSpan(parent, span),
      },
    };
  }
}

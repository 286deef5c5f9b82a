import { context as otelContext, SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import { CompressionTypes, Partitioners, type Message, type PartitionMetadata, type RecordMetadata } from 'kafkajs';
import type { SchemaCodec } from '@vigil/events';
import type { KafkaClient, KafkaProducer } from './kafka-client';
import type { EventsMetrics } from './metrics';
import type { TopicDef } from '@vigil/events';
import { eventsTracer, injectTraceContext, type RecordHeaders } from './tracing';

export interface OutgoingRecord<T> {
  value: T;
  /** Defaults to the catalogue's key for the topic. */
  key?: string;
  headers?: RecordHeaders;
  /** The trace context to parent the send span; defaults to the active context. */
  context?: Context;
  /** Pin the partition (e.g. a changelog partition aligned with its input partition). */
  partition?: number;
  /** Send a null value (a compaction tombstone); `value` still supplies the key. */
  tombstone?: boolean;
  /**
   * `value` already in the registry wire format, under a schema id whose schema this topic's readers
   * resolve (a consumed record forwarded as it came, `ConsumedRecord.bytes`): sent as it is.
   */
  encoded?: Buffer;
}

export interface RawRecord {
  key: Buffer | string | null;
  value: Buffer | string | null;
  headers?: RecordHeaders;
  partition?: number;
}

export interface EventProducerOptions {
  /** Compress batches; gzip is the only codec KafkaJS ships without a plugin. */
  compress?: boolean;
  /**
   * Largest produce request, estimated from keys, values and headers. Bigger sends are split into
   * several requests, in order: one partition's records form one record batch, and the broker
   * refuses a batch over message.max.bytes (1 MiB by default).
   */
  maxRequestBytes?: number;
  /**
   * Best effort instead of idempotent: at most `retries` retries within `maxRetryTimeMs`, then the
   * send fails. For records whose next one replaces them (heartbeats): an idempotent producer
   * keeps retrying (the client's retries, its backoff growing towards 30 s) and would hold a fresh
   * heartbeat behind a stale one long after the broker is back. Duplicates are possible; order per partition still holds.
   */
  bestEffort?: { retries: number; maxRetryTimeMs: number };
  /** Where the time each produce request takes is observed (a service's registry). */
  metrics?: Pick<EventsMetrics, 'sendSeconds'>;
  /**
   * Transactional: every send is one transaction, visible to read_committed readers (KafkaJS's
   * default) all at once or not at all, and `fence()` makes any older producer with the same id
   * unable to commit again (Kafka's zombie fencing: the id's epoch is bumped, its open transaction
   * aborted). For a writer whose output belongs to one owner at a time, e.g. a partition.
   */
  transactionalId?: string;
}

/** A send's result per partition; lastOffset is set when every record of the chunk named its partition. */
export type SendMetadata = RecordMetadata & { lastOffset?: string };

const RECORD_OVERHEAD_BYTES = 70;

function estimatedSize(m: Message): number {
  let size = RECORD_OVERHEAD_BYTES + (m.key?.length ?? 0) + (m.value?.length ?? 0);
  for (const [k, v] of Object.entries(m.headers ?? {})) size += k.length + (v === undefined ? 0 : String(v).length);
  return size;
}

/** Splits messages into consecutive chunks of at most maxBytes (a lone bigger message is its own chunk). */
export function chunkBySize(messages: Message[], maxBytes: number): Message[][] {
  const chunks: Message[][] = [];
  let current: Message[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = estimatedSize(m);
    if (current.length > 0 && bytes + size > maxBytes) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(m);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/**
 * Sends catalogue values: registry-encoded, keyed as the catalogue says, with W3C trace context in
 * the headers. Idempotent (the broker drops retried duplicates) and acks=all, so a send that
 * resolves is durable and retries never write a record twice.
 */
export class EventProducer {
  private readonly producer: KafkaProducer;
  private connected = false;

  constructor(
    kafka: KafkaClient,
    private readonly codec: SchemaCodec,
    private readonly options: EventProducerOptions = {},
  ) {
    // maxInFlightRequests <= 5 is what idempotence requires; 1 keeps strict order across retries.
    // The default partitioner is murmur2, as in the Java client: a key lands on the same partition
    // whichever client produced it.
    this.producer = kafka.producer({
      idempotent: !options.bestEffort,
      ...(options.transactionalId ? { transactionalId: options.transactionalId } : {}),
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      ...(options.bestEffort
        ? { retry: { retries: options.bestEffort.retries, maxRetryTime: options.bestEffort.maxRetryTimeMs } }
        : {}),
    });
  }

  async connect(): Promise<void> {
    if (this.connected) return;
    await this.producer.connect();
    this.connected = true;
  }

  /**
   * Transactional producers only: registers the id with the broker now (InitProducerId), which
   * fences every earlier producer of the id and aborts its open transaction before resolving, so
   * that what that producer sent is settled: committed and readable, or aborted for good.
   */
  async fence(): Promise<void> {
    if (!this.options.transactionalId) throw new Error('only a transactional producer fences');
    await this.connect();
    // KafkaJS asks for the producer id on a first transaction; one that sends nothing ends locally.
    await (await this.producer.transaction()).abort();
  }

  async disconnect(): Promise<void> {
    if (!this.connected) return;
    this.connected = false;
    await this.producer.disconnect();
  }

  async send<T>(def: TopicDef<T>, records: Array<OutgoingRecord<T>>): Promise<SendMetadata[]> {
    if (records.length === 0) return [];
    const spans: Span[] = [];
    try {
      // Forwarded bytes and tombstones need no registry: only values to encode cost a promise each.
      const messages: Message[] = new Array<Message>(records.length);
      const encoding: Array<Promise<void>> = [];
      // One options object for the send's spans: a span copies the attributes it keeps.
      const spanOptions = {
        kind: SpanKind.PRODUCER,
        attributes: {
          'messaging.system': 'kafka',
          'messaging.destination.name': def.name,
          'messaging.operation.type': 'publish',
        },
      };
      const tracer = eventsTracer();
      const spanName = `${def.name} publish`;
      records.forEach((r, i) => {
        const parent = r.context ?? otelContext.active();
        const span = tracer.startSpan(spanName, spanOptions, parent);
        spans.push(span);
        const headers = injectTraceContext({ ...r.headers }, trace.setSpan(parent, span));
        const key = r.key ?? def.key(r.value);
        span.setAttribute('messaging.kafka.message.key', key);
        if (def.keyAttribute) span.setAttribute(def.keyAttribute, key);
        const message: Message = { key, value: null, headers, partition: r.partition };
        messages[i] = message;
        if (r.tombstone) return;
        if (r.encoded) message.value = r.encoded;
        else encoding.push(this.codec.encode(def, r.value).then((value) => void (message.value = value)));
      });
      if (encoding.length > 0) await Promise.all(encoding);
      return await this.sendMessagesOnce(def.name, messages);
    } catch (e) {
      for (const s of spans) s.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error).message });
      throw e;
    } finally {
      for (const s of spans) s.end();
    }
  }

  /** Sends bytes as they are: for dead letters and for tests that need hostile input. */
  async sendRaw(topic: string, records: RawRecord[]): Promise<SendMetadata[]> {
    return this.sendMessagesOnce(
      topic,
      records.map((r) => ({ key: r.key, value: r.value, headers: r.headers, partition: r.partition })),
    );
  }

  /** A transactional producer's messages in one transaction; anyone else's as they are. */
  private async sendMessagesOnce(topic: string, messages: Message[]): Promise<SendMetadata[]> {
    if (!this.options.transactionalId) return this.sendMessages(topic, messages);
    await this.connect();
    const tx = await this.producer.transaction();
    try {
      const out = await this.sendMessages(topic, messages, tx);
      await tx.commit();
      return out;
    } catch (e) {
      // Aborting may fail too (the producer fenced, the broker away); the next fence aborts for good.
      if (tx.isActive()) await tx.abort().catch(() => undefined);
      throw e;
    }
  }

  private async sendMessages(
    topic: string,
    messages: Message[],
    via: Pick<KafkaProducer, 'send'> = this.producer,
  ): Promise<SendMetadata[]> {
    await this.connect();
    const out: SendMetadata[] = [];
    for (const chunk of chunkBySize(messages, this.options.maxRequestBytes ?? 512 * 1024)) {
      const started = performance.now();
      const metadata: SendMetadata[] = await via.send({
        topic,
        acks: -1,
        messages: chunk,
        compression: this.options.compress ? CompressionTypes.GZIP : CompressionTypes.None,
      });
      this.options.metrics?.sendSeconds?.observe({ topic }, (performance.now() - started) / 1000);
      if (chunk.every((m) => m.partition !== undefined)) {
        for (const md of metadata) {
          const count = chunk.filter((m) => m.partition === md.partition).length;
          if (md.baseOffset !== undefined) md.lastOffset = (BigInt(md.baseOffset) + BigInt(count) - 1n).toString();
        }
      }
      out.push(...metadata);
    }
    return out;
  }
}

const keyPartitioner = Partitioners.DefaultPartitioner();
const fakeMetadata = new Map<number, PartitionMetadata[]>();

/**
 * The partition a key lands on among `partitions`, as EventProducer (and the Java client: murmur2)
 * places it. For work sharded like a topic, where the record's own partition cannot be trusted to
 * match (a producer in another language, another topic keyed the same way).
 */
export function partitionOfKey(key: string, partitions: number): number {
  let metadata = fakeMetadata.get(partitions);
  if (!metadata) {
    metadata = Array.from({ length: partitions }, (_, partitionId) => ({
      partitionErrorCode: 0,
      partitionId,
      leader: 0,
      replicas: [0],
      isr: [0],
      offlineReplicas: [],
    }));
    fakeMetadata.set(partitions, metadata);
  }
  return keyPartitioner({ topic: '', partitionMetadata: metadata, message: { key, value: null } });
}

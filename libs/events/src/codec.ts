import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import * as avro from 'avsc';
import type { TopicDef } from './topics';
import type { DeadLetterReason } from './types';

/** A value refused on encode: the producer's caller handed over something the schema forbids. */
export class EventValidationError extends Error {
  constructor(
    readonly topic: string,
    readonly paths: string[],
  ) {
    super(`value for ${topic} does not match its schema at: ${paths.join(', ') || '(root)'}`);
    this.name = 'EventValidationError';
  }
}

export type DecodeOutcome<T> =
  { ok: true; value: T; schemaId: number } | { ok: false; reason: DeadLetterReason; error: string };

// Confluent wire format: magic byte 0, 4-byte big-endian schema id, then the Avro body.
const MAGIC_BYTE = 0;

/** The part of a topic definition the codec needs; independent of the value type. */
type SchemaRef = Pick<TopicDef<unknown>, 'name' | 'schema'>;
const HEADER_LENGTH = 5;

export interface SchemaCodecOptions {
  /** Base URL of a Confluent-compatible API, e.g. http://127.0.0.1:8081/apis/ccompat/v7. */
  registryUrl: string;
  /** Compatibility enforced on every subject this codec registers. */
  compatibility?: COMPATIBILITY;
}

/**
 * Encodes and decodes catalogue values with schemas held in the registry, under TopicNameStrategy
 * subjects (`<topic>-value`). Decoding never throws for bad input: it says why the bytes are bad,
 * so the consumer can dead-letter them. It throws only when the registry itself cannot be asked
 * (network, 5xx), which is transient and must not turn valid records into dead letters.
 */
export class SchemaCodec {
  readonly registry: SchemaRegistry;
  private readonly compatibility: COMPATIBILITY;
  private readonly writerIds = new Map<string, Promise<number>>();
  private readonly readerTypes = new Map<string, avro.Type>();
  private readonly resolvers = new Map<string, avro.Resolver | null | 'mismatch'>();

  constructor(options: SchemaCodecOptions) {
    this.registry = new SchemaRegistry({ host: options.registryUrl, clientId: 'vigil' });
    this.compatibility = options.compatibility ?? COMPATIBILITY.BACKWARD;
  }

  static subjectOf(topic: string): string {
    return `${topic}-value`;
  }

  /**
   * Registers the topic's schema (idempotent: the registry returns the existing id) and caches its
   * id. Concurrent callers share one request: parallel registrations of one subject race on
   * creating its compatibility rule.
   */
  register(def: SchemaRef): Promise<number> {
    let id = this.writerIds.get(def.name);
    if (!id) {
      const attempt = () =>
        this.registry.register(
          { type: SchemaType.AVRO, schema: JSON.stringify(def.schema) },
          { subject: SchemaCodec.subjectOf(def.name), compatibility: this.compatibility },
        );
      // Another process may create the subject's rule between our check and our write; the
      // second attempt then finds it in place.
      id = attempt()
        .catch((e: Error) => (/already exists/i.test(e.message) ? attempt() : Promise.reject(e)))
        .then((r) => r.id);
      id.catch(() => this.writerIds.delete(def.name)); // a failed attempt is retried by the next call
      this.writerIds.set(def.name, id);
    }
    return id;
  }

  async encode<T>(def: TopicDef<T>, value: T): Promise<Buffer> {
    const type = this.readerType(def);
    const paths: string[] = [];
    if (!type.isValid(value, { errorHook: (path) => paths.push(path.join('.')) })) {
      throw new EventValidationError(def.name, paths);
    }
    const id = await this.register(def);
    const header = Buffer.alloc(HEADER_LENGTH);
    header.writeUInt8(MAGIC_BYTE, 0);
    header.writeUInt32BE(id, 1);
    return Buffer.concat([header, type.toBuffer(value)]);
  }

  async decode<T>(def: TopicDef<T>, buffer: Buffer | null): Promise<DecodeOutcome<T>> {
    if (!buffer || buffer.length === 0) {
      return { ok: false, reason: 'undecodable', error: 'empty value (no tombstones on this topic)' };
    }
    if (buffer.length < HEADER_LENGTH || buffer.readUInt8(0) !== MAGIC_BYTE) {
      return {
        ok: false,
        reason: 'undecodable',
        error: `not in the registry wire format (magic byte ${buffer.readUInt8(0)}, ${buffer.length} bytes)`,
      };
    }
    const schemaId = buffer.readUInt32BE(1);
    const resolver = await this.resolverFor(def, schemaId);
    if (resolver === 'unknown') {
      return { ok: false, reason: 'unknown_schema_id', error: `schema id ${schemaId} is not in the registry` };
    }
    if (resolver === 'mismatch') {
      return {
        ok: false,
        reason: 'schema_mismatch',
        error: `schema id ${schemaId} is not a ${this.readerType(def).name} schema that ${def.name} can read`,
      };
    }
    const reader = this.readerType(def);
    try {
      const value = reader.fromBuffer(buffer.subarray(HEADER_LENGTH), resolver ?? undefined) as T;
      return { ok: true, value, schemaId };
    } catch (e) {
      return {
        ok: false,
        reason: 'schema_invalid',
        error: `body does not decode with schema ${schemaId}: ${(e as Error).message}`,
      };
    }
  }

  private readerType(def: SchemaRef): avro.Type {
    let type = this.readerTypes.get(def.name);
    if (!type) {
      type = avro.Type.forSchema(def.schema);
      this.readerTypes.set(def.name, type);
    }
    return type;
  }

  /**
   * The resolver from a writer schema to the topic's reader schema: null when they are the same,
   * 'unknown' when the id is not registered, 'mismatch' when the writer's schema cannot be read as ours.
   */
  private async resolverFor(def: SchemaRef, schemaId: number): Promise<avro.Resolver | null | 'unknown' | 'mismatch'> {
    const cacheKey = `${def.name}#${schemaId}`;
    const cached = this.resolvers.get(cacheKey);
    if (cached !== undefined) return cached;
    let writer: avro.Type;
    try {
      writer = (await this.registry.getSchema(schemaId)) as unknown as avro.Type;
    } catch (e) {
      const status = (e as { status?: number }).status;
      if (status === 404) return 'unknown'; // not cached: the id may be registered later
      throw e;
    }
    const outcome = this.resolve(this.readerType(def), writer);
    this.resolvers.set(cacheKey, outcome);
    return outcome;
  }

  private resolve(reader: avro.Type, writer: avro.Type): avro.Resolver | null | 'mismatch' {
    if (writer.name !== reader.name) return 'mismatch';
    if (reader.equals(writer)) return null;
    try {
      return reader.createResolver(writer);
    } catch {
      return 'mismatch';
    }
  }
}

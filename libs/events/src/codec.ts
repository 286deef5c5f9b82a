import * as avro from 'avsc';
import { installAvroGuards } from './avro-guards';
import type { TopicDef } from './topics';
import type { DeadLetterReason } from './types';

// Before any type is built: see avro-guards.ts.
installAvroGuards();

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

/** The registry's refusal of a schema: it is incompatible with the subject's history under its level. */
export class SchemaIncompatibleError extends Error {
  constructor(
    readonly subject: string,
    /** What the registry said, verbatim. */
    readonly reason: string,
  ) {
    super(`the registry refused the schema for ${subject}: ${reason}`);
    this.name = 'SchemaIncompatibleError';
  }
}

/** Compatibility levels of the Confluent API. */
export type Compatibility =
  'NONE' | 'BACKWARD' | 'BACKWARD_TRANSITIVE' | 'FORWARD' | 'FORWARD_TRANSITIVE' | 'FULL' | 'FULL_TRANSITIVE';

export type DecodeOutcome<T> =
  { ok: true; value: T; schemaId: number } | { ok: false; reason: DeadLetterReason; error: string };

// Confluent wire format: magic byte 0, 4-byte big-endian schema id, then the Avro body.
const MAGIC_BYTE = 0;

/** The part of a topic definition the codec needs; independent of the value type. */
type SchemaRef = Pick<TopicDef<unknown>, 'name' | 'schema'>;
const HEADER_LENGTH = 5;
/** Any registry call's time limit: past it the call fails as a transient fault, which is retried. */
const REGISTRY_TIMEOUT_MS = 10_000;

export interface SchemaCodecOptions {
  /** Base URL of a Confluent-compatible API, e.g. http://127.0.0.1:8081/apis/ccompat/v7. */
  registryUrl: string;
  /**
   * The level set on subjects this codec creates (default FULL_TRANSITIVE: old and new readers both
   * read every version, as the compacted changelog's oldest records must stay readable). A subject
   * that exists keeps whatever level its owners gave it.
   */
  compatibility?: Compatibility;
  /** HTTP basic auth to the registry. TLS: an https URL; a CA of one's own through NODE_EXTRA_CA_CERTS. */
  auth?: { username: string; password: string };
}

/**
 * Encodes and decodes catalogue values with schemas held in the registry, under TopicNameStrategy
 * subjects (`<topic>-value`). Decoding never throws for bad input: it says why the bytes are bad,
 * so the consumer can dead-letter them. It throws only when the registry itself cannot be asked
 * (network, 5xx), which is transient and must not turn valid records into dead letters.
 */
export class SchemaCodec {
  private readonly registryUrl: string;
  private readonly compatibility: Compatibility;
  private readonly auth?: { username: string; password: string };
  private readonly writerIds = new Map<string, Promise<number>>();
  private readonly readerTypes = new Map<string, avro.Type>();
  /** Per topic, per writer schema id: how to read it (null: as the reader schema itself). */
  private readonly resolvers = new Map<string, Map<number, avro.Resolver | null | 'mismatch'>>();

  constructor(options: SchemaCodecOptions) {
    this.registryUrl = options.registryUrl.replace(/\/+$/, '');
    this.compatibility = options.compatibility ?? 'FULL_TRANSITIVE';
    this.auth = options.auth;
  }

  /** Resolves when the registry answers its API (with the credentials given); else why not. */
  async ping(): Promise<void> {
    const res = await this.call('GET', '/subjects');
    if (res.status !== 200) throw registryError('list the subjects of', this.registryUrl, res);
  }

  static subjectOf(topic: string): string {
    return `${topic}-value`;
  }

  /**
   * Registers the topic's schema (idempotent: an existing registration is looked up, not repeated)
   * and caches its id. Concurrent callers share one request. Throws SchemaIncompatibleError when the
   * registry refuses the schema; other errors (network, 5xx) are transient and not cached.
   */
  register(def: SchemaRef): Promise<number> {
    let id = this.writerIds.get(def.name);
    if (!id) {
      id = this.registerSubject(SchemaCodec.subjectOf(def.name), def.schema as object | string).then((r) => r.id);
      id.catch(() => this.writerIds.delete(def.name)); // a failed attempt is retried by the next call
      this.writerIds.set(def.name, id);
    }
    return id;
  }

  /** Registers or verifies every schema of these topics: what a service does at start, inputs included. */
  async registerAll(defs: SchemaRef[]): Promise<void> {
    await Promise.all(defs.map((d) => this.register(d)));
  }

  /**
   * The registration policy, on any subject. A subject that exists is left at its level: the schema
   * is looked up and, if new there, registered under that level; only a refusal (409) fails, with
   * the registry's reason. A subject that does not exist is created and given this codec's level.
   */
  async registerSubject(subject: string, schema: object | string): Promise<{ id: number; created: boolean }> {
    const body = JSON.stringify({ schema: typeof schema === 'string' ? schema : JSON.stringify(schema) });
    const subjectPath = `/subjects/${encodeURIComponent(subject)}`;
    const versions = await this.call('GET', `${subjectPath}/versions`);
    const created = versions.status === 404;
    if (!created) {
      const found = await this.call('POST', subjectPath, body);
      if (found.status === 200) return { id: (found.body as { id: number }).id, created };
    }
    const registered = await this.call('POST', `${subjectPath}/versions`, body);
    if (registered.status === 409) throw new SchemaIncompatibleError(subject, registryMessage(registered.body));
    if (registered.status !== 200) throw registryError('register', subject, registered);
    if (created) {
      const put = () =>
        this.call(
          'PUT',
          `/config/${encodeURIComponent(subject)}`,
          JSON.stringify({ compatibility: this.compatibility }),
        );
      // Another process creating the same subject may be setting the same level right now (Apicurio
      // then answers 409 "already exists"); the second attempt finds it in place.
      let config = await put();
      if (config.status === 409) config = await put();
      if (config.status !== 200) throw registryError('set the compatibility of', subject, config);
    }
    return { id: (registered.body as { id: number }).id, created };
  }

  /** The compatibility level a subject has (its own, else the registry's global one). */
  async compatibilityOf(subject: string): Promise<Compatibility> {
    const own = await this.call('GET', `/config/${encodeURIComponent(subject)}`);
    const res = own.status === 200 ? own : await this.call('GET', '/config');
    if (res.status !== 200) throw registryError('read the compatibility of', subject, res);
    const b = res.body as { compatibilityLevel?: string; compatibility?: string };
    return (b.compatibilityLevel ?? b.compatibility ?? 'BACKWARD').toUpperCase() as Compatibility;
  }

  private async call(method: string, urlPath: string, body?: string): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${this.registryUrl}${urlPath}`, {
      method,
      headers: {
        'content-type': 'application/vnd.schemaregistry.v1+json',
        accept: 'application/json',
        ...(this.auth
          ? { authorization: `Basic ${Buffer.from(`${this.auth.username}:${this.auth.password}`).toString('base64')}` }
          : {}),
      },
      body,
      signal: AbortSignal.timeout(REGISTRY_TIMEOUT_MS),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: kept as text for the error message
    }
    return { status: res.status, body: parsed };
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
    const known = this.decodeKnown(def, buffer);
    if (known) return known;
    const schemaId = buffer!.readUInt32BE(1);
    return this.decodeWith(def, buffer!, schemaId, await this.resolverFor(def, schemaId));
  }

  /**
   * decode() without a promise when no registry call is needed (bad framing, or a writer schema
   * seen before: every record but the first of each schema id); undefined when the registry must
   * be asked. A consumer's hot path calls this first: a promise per record is a fifth of its time.
   */
  decodeKnown<T>(def: TopicDef<T>, buffer: Buffer | null): DecodeOutcome<T> | undefined {
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
    const resolver = this.resolvers.get(def.name)?.get(schemaId);
    return resolver === undefined ? undefined : this.decodeWith(def, buffer, schemaId, resolver);
  }

  private decodeWith<T>(
    def: TopicDef<T>,
    buffer: Buffer,
    schemaId: number,
    resolver: avro.Resolver | null | 'unknown' | 'mismatch',
  ): DecodeOutcome<T> {
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
    const cached = this.resolvers.get(def.name)?.get(schemaId);
    if (cached !== undefined) return cached;
    const writer = await this.writerSchema(schemaId);
    if (writer === 'unknown') return 'unknown'; // not cached: the id may be registered later
    const outcome = writer === 'mismatch' ? writer : this.resolve(this.readerType(def), writer);
    let ofTopic = this.resolvers.get(def.name);
    if (!ofTopic) this.resolvers.set(def.name, (ofTopic = new Map()));
    ofTopic.set(schemaId, outcome);
    return outcome;
  }

  /**
   * The writer schema under an id, read with our own bounded call rather than the registry client's:
   * a lookup the registry never answers must fail the batch (it is retried) instead of holding it,
   * and the consumer's heartbeats, forever; the fuzzer met exactly that.
   */
  private async writerSchema(schemaId: number): Promise<avro.Type | 'unknown' | 'mismatch'> {
    const res = await this.call('GET', `/schemas/ids/${schemaId}`);
    if (res.status === 404) return 'unknown';
    if (res.status !== 200) throw registryError('read the schema of id', String(schemaId), res);
    const { schema, schemaType } = res.body as { schema?: string; schemaType?: string };
    if ((schemaType ?? 'AVRO') !== 'AVRO' || typeof schema !== 'string') return 'mismatch';
    try {
      return avro.Type.forSchema(JSON.parse(schema) as avro.Schema);
    } catch {
      return 'mismatch';
    }
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

function registryMessage(body: unknown): string {
  if (body && typeof body === 'object' && 'message' in body) return String((body as { message: unknown }).message);
  return typeof body === 'string' ? body : JSON.stringify(body);
}

/** A registry answer that is neither success nor a refusal: transient or misconfiguration, thrown as is. */
function registryError(what: string, subject: string, res: { status: number; body: unknown }): Error {
  return Object.assign(
    new Error(`could not ${what} ${subject}: registry answered ${res.status}: ${registryMessage(res.body)}`),
    {
      status: res.status,
    },
  );
}

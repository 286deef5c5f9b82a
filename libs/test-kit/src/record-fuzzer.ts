import type { DeadLetterReason, SchemaCodec, TopicDef } from '@vigil/events';
import { seededRandom } from './seeded-random';

/**
 * What a reader must make of a fuzzed record: a dead letter with this reason, the handler ('valid'),
 * or either of them ('either': a bit flip may leave a record that still decodes and validates).
 * Never nothing, never both.
 */
export type FuzzExpectation = DeadLetterReason | 'valid' | 'either';

export interface FuzzRecord {
  /** The mutation that made it, for counting and for the failure message. */
  kind: string;
  key: string | Buffer | null;
  value: Buffer | null;
  headers?: Record<string, string | Buffer>;
  expect: FuzzExpectation;
}

export interface RecordFuzzerOptions {
  codec: SchemaCodec;
  def: TopicDef<unknown>;
  /** A valid value of the topic; `i` makes them differ. */
  sample: (i: number) => unknown;
  /** A topic of another schema, whose records this topic's reader must refuse as a schema mismatch. */
  foreign: { def: TopicDef<unknown>; sample: () => unknown };
  /** The reader's value limit: a mutation that grows past it expects 'oversized'. */
  maxValueBytes: number;
  seed: number;
}

type Mutation = (i: number) => Promise<FuzzRecord>;

const HEADER_BYTES = 5;

/**
 * Hostile and broken records for one topic, built from its Avro schema and its catalogue entry:
 * broken framing, truncated and bit-flipped bodies, unknown and foreign schema ids, fields of the
 * right type with absurd values (empty, huge, negative, far future), missing and huge keys, garbage
 * headers, values past the size limit. Each comes with the outcome the contract promises for it;
 * where a mutation keeps the record readable (a field the schema and validator allow), the
 * expectation is what the size limit and the topic's validator say, so a reader that drops or
 * doubles anything is caught either way. Seeded: a failing run is reproduced by its seed.
 */
export class RecordFuzzer {
  private readonly random: () => number;
  private readonly mutations: Array<[weight: number, mutation: Mutation]>;

  constructor(private readonly options: RecordFuzzerOptions) {
    this.random = seededRandom(options.seed);
    const compacted = options.def.config['cleanup.policy']?.includes('compact') ?? false;
    this.mutations = [
      [30, (i) => this.mutatedField(i)],
      [10, (i) => this.truncatedBody(i)],
      [10, (i) => this.flippedBits(i)],
      [3, (i) => this.flippedHeader(i)],
      [5, (i) => this.unknownSchemaId(i)],
      [8, () => this.foreignSchema()],
      [8, () => this.garbage()],
      [3, () => this.emptyValue()],
      // A compacted topic's broker refuses a record without a key: no reader ever sees one there.
      [compacted ? 0 : 5, (i) => this.keyed(i, 'no key', null, 'missing_key')],
      [3, (i) => this.keyed(i, 'empty key', '', 'missing_key')],
      [5, (i) => this.keyed(i, 'huge key', 'k'.repeat(1025 + this.int(4000)), 'oversized')],
      [5, (i) => this.hostileHeaders(i)],
      [0.1, (i) => this.oversizedValue(i)],
    ];
  }

  /** A valid record of the topic, keyed as the catalogue says. */
  async valid(i: number): Promise<FuzzRecord> {
    const value = this.options.sample(i);
    return {
      kind: 'valid',
      key: this.options.def.key(value),
      value: await this.options.codec.encode(this.options.def, value),
      expect: 'valid',
    };
  }

  /** One record of a mutation drawn at random (by weight). */
  async malformed(i: number): Promise<FuzzRecord> {
    const total = this.mutations.reduce((n, [w]) => n + w, 0);
    let pick = this.random() * total;
    for (const [weight, mutation] of this.mutations) {
      pick -= weight;
      if (pick <= 0) return mutation(i);
    }
    return this.mutations[0]![1](i);
  }

  private async mutatedField(i: number): Promise<FuzzRecord> {
    const { def, codec, maxValueBytes } = this.options;
    const value = structuredClone(this.options.sample(i)) as Record<string, unknown>;
    const fields = (def.schema as { fields: Array<{ name: string; type: unknown }> }).fields;
    const field = fields[this.int(fields.length)]!;
    const absurd = this.absurdValues(field.name, field.type, value[field.name]);
    // Candidates the Avro type itself refuses (a long past 2^52, for avsc) are not encodable: skipped.
    let encoded: Buffer | undefined;
    while (!encoded && absurd.length > 0) {
      value[field.name] = absurd.splice(this.int(absurd.length), 1)[0];
      encoded = await codec.encode(def, value).catch((e: Error) => {
        if (e.name !== 'EventValidationError') throw e;
        return undefined;
      });
    }
    if (!encoded) return this.truncatedBody(i);
    // The reader checks the key, then the size, then the value (a mutated key field changes the key).
    const key = (def.key(value) as string | null) || `fuzz-${i}`;
    const problem =
      Buffer.byteLength(key) > 1024 || encoded.length > maxValueBytes ? 'oversized' : def.validate?.(value, Date.now());
    return {
      kind: `field ${field.name}`,
      key,
      value: encoded,
      expect: problem === 'oversized' ? 'oversized' : problem ? 'invalid_value' : 'valid',
    };
  }

  /** Values of the field's own Avro type that no sane writer sends; none for types it leaves alone. */
  private absurdValues(name: string, type: unknown, current: unknown): unknown[] {
    const branches = Array.isArray(type) ? type : [type];
    const out: unknown[] = branches.includes('null') ? [null] : [];
    for (const branch of branches) {
      const t = typeof branch === 'object' && branch !== null ? (branch as { type: unknown }).type : branch;
      if (t === 'string') {
        out.push('', ' ', '\u0000', 'x'.repeat(300), 'é'.repeat(200), '{"not json', '../../../etc/passwd');
        out.push('y'.repeat(20_000));
      } else if (t === 'long') {
        out.push(-1, 2 ** 52, -(2 ** 52), Number.MAX_SAFE_INTEGER, 0);
        if (/at$|time|ms$/i.test(name)) out.push(Date.now() + 10 * 365 * 86_400_000, 1);
      } else if (t === 'int') {
        out.push(-1, 0, 2 ** 31 - 1, -(2 ** 31));
      } else if (t === 'double') {
        out.push(-1, 1e300, -1e300, Number.NaN);
      } else if (t === 'float') {
        out.push(-1, 3e38);
      } else if (t === 'boolean') {
        out.push(!current);
      } else if (t === 'bytes') {
        out.push(Buffer.alloc(0), this.bytes(5000));
      } else if (t === 'map' && (branch as { values: unknown }).values === 'string') {
        out.push(Object.fromEntries(Array.from({ length: 5000 }, (_, k) => [`k${k}`, 'v'.repeat(10)])));
      } else if (t === 'array' && Array.isArray(current) && current.length > 0) {
        out.push(Array.from({ length: 5000 }, () => current[0]));
      }
    }
    return out;
  }

  private async encodedSample(i: number): Promise<{ key: string; bytes: Buffer }> {
    const value = this.options.sample(i);
    return { key: this.options.def.key(value), bytes: await this.options.codec.encode(this.options.def, value) };
  }

  private async truncatedBody(i: number): Promise<FuzzRecord> {
    const { key, bytes } = await this.encodedSample(i);
    const cut = HEADER_BYTES + this.int(bytes.length - HEADER_BYTES);
    return { kind: 'truncated body', key, value: bytes.subarray(0, cut), expect: 'schema_invalid' };
  }

  private async flippedBits(i: number): Promise<FuzzRecord> {
    const { key, bytes } = await this.encodedSample(i);
    const value = Buffer.from(bytes);
    for (let n = 1 + this.int(4); n > 0; n--) {
      const at = HEADER_BYTES + this.int(value.length - HEADER_BYTES);
      value[at]! ^= 1 << this.int(8);
    }
    return { kind: 'bit-flipped body', key, value, expect: 'either' };
  }

  private async flippedHeader(i: number): Promise<FuzzRecord> {
    const { key, bytes } = await this.encodedSample(i);
    const value = Buffer.from(bytes);
    value[this.int(HEADER_BYTES)]! ^= 1 << this.int(8);
    return { kind: 'bit-flipped header', key, value, expect: value[0] === 0 ? 'either' : 'undecodable' };
  }

  private async unknownSchemaId(i: number): Promise<FuzzRecord> {
    const { key, bytes } = await this.encodedSample(i);
    const value = Buffer.from(bytes);
    value.writeUInt32BE(2_000_000_000 + this.int(100_000_000), 1);
    return { kind: 'unknown schema id', key, value, expect: 'unknown_schema_id' };
  }

  private async foreignSchema(): Promise<FuzzRecord> {
    const { def, sample } = this.options.foreign;
    const value = await this.options.codec.encode(def, sample());
    return { kind: 'another topic’s schema', key: 'foreign', value, expect: 'schema_mismatch' };
  }

  private async garbage(): Promise<FuzzRecord> {
    const value = this.bytes(1 + this.int(300));
    value[0] = 1 + this.int(255);
    return { kind: 'not the wire format', key: 'garbage', value, expect: 'undecodable' };
  }

  private async emptyValue(): Promise<FuzzRecord> {
    return { kind: 'empty value', key: 'empty', value: Buffer.alloc(0), expect: 'undecodable' };
  }

  private async keyed(i: number, kind: string, key: string | null, expect: FuzzExpectation): Promise<FuzzRecord> {
    const { bytes } = await this.encodedSample(i);
    return { kind, key, value: bytes, expect };
  }

  /** Trace headers of garbage and a huge header: a valid record all the same, read as one. */
  private async hostileHeaders(i: number): Promise<FuzzRecord> {
    const { key, bytes } = await this.encodedSample(i);
    return {
      kind: 'hostile headers',
      key,
      value: bytes,
      headers: {
        traceparent: this.bytes(55),
        tracestate: 'x='.repeat(5000),
        baggage: Buffer.from([0xff, 0xfe, 0x00]),
        [`h${'\u0000'.repeat(3)}`]: this.bytes(10_000),
      },
      expect: 'valid',
    };
  }

  private async oversizedValue(i: number): Promise<FuzzRecord> {
    const { key, bytes } = await this.encodedSample(i);
    const value = Buffer.concat([bytes.subarray(0, HEADER_BYTES), this.bytes(this.options.maxValueBytes + 1)]);
    return { kind: 'oversized value', key, value, expect: 'oversized' };
  }

  private int(below: number): number {
    return Math.floor(this.random() * below);
  }

  private bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let k = 0; k < n; k++) out[k] = this.int(256);
    return out;
  }
}

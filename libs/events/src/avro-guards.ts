import * as avro from 'avsc';

/** The part of avsc's Tap (its read cursor over a buffer) the guards use. */
interface Tap {
  buf: Buffer;
  pos: number;
  readLong(): number;
  skipLong(): void;
  readString(): string;
  skipString(): void;
}

interface Reader {
  _read(tap: Tap): unknown;
  _skip(tap: Tap): void;
}

/** Raised while reading; the codec reports it like any body that does not decode (schema_invalid). */
export class AvroBlockTooLarge extends Error {}

/**
 * The next block's item count, refused when it claims more items than bytes are left: every item of
 * an array or map in Vigil's schemas takes at least one byte (a map entry has its key; no array
 * holds nulls or empty records).
 */
function blockCount(tap: Tap): number {
  let n = tap.readLong();
  if (n < 0) {
    n = -n;
    tap.skipLong(); // the block's size in bytes, which a reader does not need
  }
  const left = tap.buf.length - tap.pos;
  if (left < 0) throw new AvroBlockTooLarge('the body ends before its array or map does');
  if (n > left) throw new AvroBlockTooLarge(`a block of ${n} items with ${left} bytes left`);
  return n;
}

let installed = false;

/**
 * avsc reads an array's or a map's block count, then that many items, and looks at the buffer's end
 * only once the whole value is read: a count of billions (one flipped bit, or a hostile writer) makes
 * one record loop for minutes and allocate without bound, and the consumer, its event loop blocked,
 * is evicted from its group (found by the fuzzer, test/src/fuzz-admission.ts). These readers bound every
 * block by the bytes left, as avsc bounds a string. They replace avsc's on the prototypes, before any
 * type is built: resolvers copy `_read` from the reader type when they are created.
 */
export function installAvroGuards(): void {
  if (installed) return;
  installed = true;
  const { ArrayType, MapType } = avro.types as unknown as {
    ArrayType: { prototype: { _read(tap: Tap): unknown; _skip(tap: Tap): void } };
    MapType: { prototype: { _read(tap: Tap): unknown; _skip(tap: Tap): void } };
  };

  ArrayType.prototype._read = function (this: { itemsType: Reader }, tap: Tap) {
    const items = this.itemsType;
    const out: unknown[] = [];
    for (let n = blockCount(tap); n; n = blockCount(tap)) while (n--) out.push(items._read(tap));
    return out;
  };
  ArrayType.prototype._skip = function (this: { itemsType: Reader }, tap: Tap) {
    for (let n = blockCount(tap); n; n = blockCount(tap)) while (n--) this.itemsType._skip(tap);
  };
  MapType.prototype._read = function (this: { valuesType: Reader }, tap: Tap) {
    const values = this.valuesType;
    const out: Record<string, unknown> = {};
    for (let n = blockCount(tap); n; n = blockCount(tap))
      while (n--) {
        const key = tap.readString();
        out[key] = values._read(tap);
      }
    return out;
  };
  MapType.prototype._skip = function (this: { valuesType: Reader }, tap: Tap) {
    for (let n = blockCount(tap); n; n = blockCount(tap))
      while (n--) {
        tap.skipString();
        this.valuesType._skip(tap);
      }
  };
}

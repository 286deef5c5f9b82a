import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as avro from 'avsc';
import { AvroBlockTooLarge, installAvroGuards } from './avro-guards';

installAvroGuards();

const type = avro.Type.forSchema({
  type: 'record',
  name: 'Probe',
  fields: [
    { name: 'tags', type: { type: 'array', items: 'string' } },
    { name: 'labels', type: { type: 'map', values: 'string' } },
  ],
});

/** Avro's zig-zag varint of a long. */
function varint(n: number): Buffer {
  const bytes: number[] = [];
  let z = n >= 0 ? n * 2 : -n * 2 - 1;
  while (z >= 0x80) {
    bytes.push((z % 0x80) | 0x80);
    z = Math.floor(z / 0x80);
  }
  bytes.push(z);
  return Buffer.from(bytes);
}

const str = (s: string) => Buffer.concat([varint(Buffer.byteLength(s)), Buffer.from(s)]);

describe('avsc reads arrays and maps only as long as their bytes last', () => {
  it('refuses at once an array block claiming billions of items (a flipped bit, a hostile writer)', () => {
    const body = Buffer.concat([varint(4_000_000_000), str('a'), str('b')]);
    assert.throws(() => type.fromBuffer(body), AvroBlockTooLarge);
  });

  it('refuses a map block claiming more entries than bytes left', () => {
    const body = Buffer.concat([varint(0), varint(2 ** 40), str('k'), str('v')]);
    assert.throws(() => type.fromBuffer(body), /a block of 1099511627776 items with 4 bytes left/);
  });

  it('still reads what avsc writes, and blocks with a byte size (negative counts) as other writers write them', () => {
    const value = { tags: ['a', 'b', 'c'], labels: { team: 'core', tier: '1' } };
    assert.deepEqual({ ...(type.fromBuffer(type.toBuffer(value)) as object) }, value);
    const items = Buffer.concat([str('x'), str('y')]);
    const sized = Buffer.concat([varint(-2), varint(items.length), items, varint(0), varint(0)]);
    assert.deepEqual((type.fromBuffer(sized) as { tags: string[] }).tags, ['x', 'y']);
  });

  it('also guards resolvers, which read an older writer schema into the current one', () => {
    const writer = avro.Type.forSchema({
      type: 'record',
      name: 'Probe',
      fields: [{ name: 'tags', type: { type: 'array', items: 'string' } }],
    });
    const reader = avro.Type.forSchema({
      type: 'record',
      name: 'Probe',
      fields: [
        { name: 'tags', type: { type: 'array', items: 'string' } },
        { name: 'labels', type: { type: 'map', values: 'string' }, default: {} },
      ],
    });
    const fromOld = reader.createResolver(writer);
    assert.throws(
      () => reader.fromBuffer(Buffer.concat([varint(3_000_000_000), str('a')]), fromOld),
      AvroBlockTooLarge,
    );
  });
});

import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { sampleDeadLetter, type DeadLetter } from '@vigil/events';
import { DEFAULT_MAX_LETTER_BYTES, fitDeadLetter } from './dead-letter-writer';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** What a letter carries that its sender controls, in bytes. */
const variableBytes = (l: DeadLetter) =>
  (l.key?.length ?? 0) +
  (l.value?.length ?? 0) +
  Buffer.byteLength(l.error) +
  Object.entries(l.headers).reduce((n, [k, v]) => n + Buffer.byteLength(k) + v.length, 0);

describe('a dead letter fits its topic whatever the refused record was', () => {
  it('keeps a letter that fits whole, with its value size and hash', () => {
    const letter = sampleDeadLetter();
    const fitted = fitDeadLetter(letter);
    assert.deepEqual(fitted, {
      ...letter,
      truncated: false,
      valueBytes: 3,
      valueSha256: sha256(Buffer.from([1, 2, 3])),
    });
  });

  it('describes a letter without a value (a tombstone, a record with no body) as such', () => {
    const fitted = fitDeadLetter({ ...sampleDeadLetter(), value: null });
    assert.equal(fitted.valueBytes, null);
    assert.equal(fitted.valueSha256, null);
    assert.equal(fitted.truncated, false);
  });

  it('cuts a huge value to its start, and key, headers and error to a KiB each, within the budget', () => {
    const value = randomBytes(2 * 1024 * 1024);
    const headers = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`h${i}`, randomBytes(10_000)]));
    const fitted = fitDeadLetter({
      ...sampleDeadLetter(),
      key: randomBytes(5000),
      value,
      headers,
      error: 'e'.repeat(10_000),
    });
    assert.equal(fitted.truncated, true);
    assert.equal(fitted.valueBytes, value.length);
    assert.equal(fitted.valueSha256, sha256(value));
    assert.equal(fitted.key!.length, 1024);
    assert.ok(fitted.error.length <= 1025);
    assert.ok(Object.values(fitted.headers).every((v) => v.length <= 1024));
    assert.ok(Object.keys(fitted.headers).length < 100, 'past 16 KiB of headers the rest are dropped');
    assert.deepEqual(fitted.value, value.subarray(0, fitted.value!.length));
    assert.ok(fitted.value!.length > 400 * 1024, 'the value keeps what room is left');
    assert.ok(variableBytes(fitted) <= DEFAULT_MAX_LETTER_BYTES);
  });

  it('cuts a letter to whatever budget it is given', () => {
    const fitted = fitDeadLetter({ ...sampleDeadLetter(), value: randomBytes(100_000) }, 10_000);
    assert.equal(fitted.truncated, true);
    assert.ok(variableBytes(fitted) <= 10_000);
    assert.equal(fitted.valueBytes, 100_000);
  });
});

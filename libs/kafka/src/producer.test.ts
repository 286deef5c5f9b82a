import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chunkBySize } from './producer';

describe('EventProducer request sizing', () => {
  it('splits a send into consecutive chunks under the byte limit, keeping order', () => {
    const messages = Array.from({ length: 100 }, (_, i) => ({ key: `k${i}`, value: Buffer.alloc(1000, i) }));
    const chunks = chunkBySize(messages, 10_000);
    assert.ok(chunks.length >= 10);
    assert.deepEqual(chunks.flat(), messages, 'nothing lost, nothing reordered');
    for (const c of chunks) assert.ok(c.length * 1070 <= 10_000 + 1070, 'each chunk stays near the limit');
  });

  it('sends a single message larger than the limit on its own, rather than dropping it', () => {
    const big = { key: 'big', value: Buffer.alloc(50_000) };
    const chunks = chunkBySize(
      [{ key: 'a', value: Buffer.alloc(10) }, big, { key: 'b', value: Buffer.alloc(10) }],
      10_000,
    );
    assert.deepEqual(
      chunks.map((c) => c.length),
      [1, 1, 1],
    );
  });
});

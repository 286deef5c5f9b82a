import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { groupBy } from './group-by';

describe('groupBy', () => {
  it('keeps each key in first-seen order and its items in their order', () => {
    const g = groupBy(['b1', 'a1', 'b2', 'c1', 'a2'], (s) => s[0]);
    assert.deepEqual([...g.keys()], ['b', 'a', 'c']);
    assert.deepEqual(g.get('b'), ['b1', 'b2']);
    assert.deepEqual(g.get('a'), ['a1', 'a2']);
  });
  it('gives an empty map for no items', () => {
    assert.equal(groupBy([], (x) => x).size, 0);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { partitionsBehind, type TopicOffsets } from './group-drain';

const offsets = (o: Record<string, Record<number, number>>): TopicOffsets =>
  new Map(Object.entries(o).map(([t, ps]) => [t, new Map(Object.entries(ps).map(([p, v]) => [Number(p), BigInt(v)]))]));

describe("the soak's consumer-lag audit", () => {
  it('owes nothing on partitions that received nothing during the run, committed or not', () => {
    const starts = offsets({ alerts: { 0: 40, 1: 7 } });
    const ends = offsets({ alerts: { 0: 40, 1: 7 } });
    assert.deepEqual(partitionsBehind(starts, ends, offsets({})), []);
  });

  it('counts a partition that grew as behind until the group commits its end', () => {
    const starts = offsets({ alerts: { 0: 40, 1: 7 }, heals: { 0: 0 } });
    const ends = offsets({ alerts: { 0: 45, 1: 7 }, heals: { 0: 3 } });
    assert.deepEqual(partitionsBehind(starts, ends, offsets({ alerts: { 0: 44 } })), [
      'alerts/0: committed 44 < end 45',
      'heals/0: committed -1 < end 3',
    ]);
    assert.deepEqual(partitionsBehind(starts, ends, offsets({ alerts: { 0: 45 }, heals: { 0: 3 } })), []);
  });

  it('treats a topic created during the run as starting empty', () => {
    const ends = offsets({ fresh: { 0: 2 } });
    assert.deepEqual(partitionsBehind(offsets({}), ends, offsets({})), ['fresh/0: committed -1 < end 2']);
    assert.deepEqual(partitionsBehind(offsets({}), ends, offsets({ fresh: { 0: 9 } })), []);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LeaderWatch } from './leader-watch';

/** A reading: the leader of partition 0, 1, 2... */
const leaders = (...ids: number[]) => new Map(ids.map((leader, partition) => [partition, leader]));

describe('LeaderWatch (which partitions changed hands since the last reading)', () => {
  it('reports a partition whose leader differs from the last reading, once per change', () => {
    const watch = new LeaderWatch();
    assert.deepEqual(watch.changed(leaders(1, 2, 3)), [], 'a first reading has nothing to differ from');
    assert.deepEqual(watch.changed(leaders(1, 2, 3)), []);
    assert.deepEqual(watch.changed(leaders(2, 2, 1)), [0, 2], 'broker 3 died: its partitions moved');
    assert.deepEqual(watch.changed(leaders(2, 2, 1)), [], 'the same leaders again are no news');
    assert.deepEqual(watch.changed(leaders(1, 2, 1)), [0], 'the preferred leader took partition 0 back');
  });

  it('a partition missing from a reading keeps its last leader', () => {
    const watch = new LeaderWatch();
    watch.changed(leaders(1, 2));
    assert.deepEqual(watch.changed(new Map([[1, 2]])), []);
    assert.deepEqual(watch.changed(new Map([[0, 3]])), [0]);
  });
});

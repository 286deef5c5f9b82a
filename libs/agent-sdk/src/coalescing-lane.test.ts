import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CoalescingLane } from './coalescing-lane';

describe('CoalescingLane (how heartbeats of many agents share a partition lane)', () => {
  it('callers of the same moment go out in one send, later ones together in the next, in order', async () => {
    const sends: number[][] = [];
    let release!: () => void;
    const lane = new CoalescingLane<number>(async (items) => {
      sends.push(items);
      if (sends.length === 1) await new Promise<void>((r) => (release = r));
    });
    const first = [lane.send([1]), lane.send([2, 3])];
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(sends, [[1, 2, 3]], 'the first turn of the loop made one send');
    const later = [lane.send([4]), lane.send([5])];
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(sends.length, 1, 'nothing else is sent while a send is in flight');
    release();
    await Promise.all([...first, ...later]);
    assert.deepEqual(sends, [
      [1, 2, 3],
      [4, 5],
    ]);
  });

  it('a failed send rejects the callers it carried, and the next send goes out regardless', async () => {
    let calls = 0;
    const lane = new CoalescingLane<string>(async () => {
      if (++calls === 1) throw new Error('leader not available');
    });
    await assert.rejects(lane.send(['a']), /leader not available/);
    await lane.send(['b']);
    assert.equal(calls, 2);
  });

  it('a send that names the items that failed rejects only their callers', async () => {
    const lane = new CoalescingLane<string>(
      async (items) => new Map(items.filter((i) => i.startsWith('p4')).map((i) => [i, new Error('not the leader')])),
    );
    const outcomes = await Promise.allSettled([lane.send(['p1-a']), lane.send(['p4-b']), lane.send(['p2-c', 'p4-d'])]);
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['fulfilled', 'rejected', 'rejected'],
    );
  });
});

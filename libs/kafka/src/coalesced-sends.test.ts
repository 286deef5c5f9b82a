import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CoalescedSends } from './coalesced-sends';

/** A send function whose requests the test completes by hand. */
function controlledSend() {
  const requests: Array<{ records: string[]; done: (e?: Error) => void }> = [];
  const send = (records: string[]) =>
    new Promise<void>((resolve, reject) => requests.push({ records, done: (e) => (e ? reject(e) : resolve()) }));
  return { requests, send };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('CoalescedSends', () => {
  it('sends the first call at once and every call made while it is in flight as one request, in call order', async () => {
    const { requests, send } = controlledSend();
    const sends = new CoalescedSends(send);
    const first = sends.send(['a1']);
    const second = sends.send(['b1', 'b2']);
    const third = sends.send(['c1']);
    await tick();
    assert.deepEqual(
      requests.map((r) => r.records),
      [['a1']],
    );
    requests[0]!.done();
    await first;
    await tick();
    assert.deepEqual(requests[1]!.records, ['b1', 'b2', 'c1']);
    requests[1]!.done();
    await Promise.all([second, third]);
    assert.equal(requests.length, 2);
  });

  it('fails exactly the callers whose records a failed request carried; later ones go on', async () => {
    const { requests, send } = controlledSend();
    const sends = new CoalescedSends(send);
    const first = sends.send(['a']);
    await tick();
    const second = sends.send(['b']);
    requests[0]!.done(new Error('broker gone'));
    await assert.rejects(first, /broker gone/);
    await tick();
    assert.deepEqual(requests[1]!.records, ['b']);
    requests[1]!.done();
    await second;
  });

  it('resolves an empty send without a request', async () => {
    const { requests, send } = controlledSend();
    await new CoalescedSends(send).send([]);
    assert.equal(requests.length, 0);
  });
});

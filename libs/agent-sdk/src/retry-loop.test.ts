import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RetryLoop } from './retry-loop';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('RetryLoop (how the SDK waits and retries)', () => {
  it('sleeps while there is no work and runs as soon as it is woken', async () => {
    let work = 0;
    let attempts = 0;
    const loop = new RetryLoop({
      hasWork: () => work > 0,
      attempt: async () => void (attempts++, work--),
      ceilingMs: () => 1000,
    });
    void loop.start();
    await sleep(50);
    assert.equal(attempts, 0, 'no work, no attempts: it does not poll');
    work = 1;
    loop.wake();
    await sleep(20);
    assert.equal(attempts, 1);
    await loop.stop();
  });

  it('backs off after failures, and new work does not cut the backoff short (no spin during an outage)', async () => {
    let attempts = 0;
    const loop = new RetryLoop({
      hasWork: () => true,
      attempt: async () => {
        attempts++;
        throw new Error('Kafka unreachable');
      },
      ceilingMs: () => 400, // waits between 200 and 400 ms
    });
    void loop.start();
    const wakes = setInterval(() => loop.wake(), 5);
    await sleep(700);
    clearInterval(wakes);
    await loop.stop();
    assert.ok(attempts >= 2 && attempts <= 4, `${attempts} attempts in 700 ms with a 200-400 ms backoff`);
  });

  it('stops promptly even in the middle of a long backoff', async () => {
    const loop = new RetryLoop({
      hasWork: () => true,
      attempt: async () => Promise.reject(new Error('down')),
      ceilingMs: () => 60000,
    });
    void loop.start();
    await sleep(20);
    const started = Date.now();
    await loop.stop();
    assert.ok(Date.now() - started < 200, 'stop() cut the 30-60 s wait short');
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { faultSchedule } from './fault-schedule';

describe('the soak fault schedule', () => {
  const options = {
    seed: 42,
    durationMs: 1_200_000,
    counts: { 'kill-service': 100, 'pause-service': 5, 'kill-agent': 5, 'kill-broker': 10, 'kill-redis-master': 10 },
  };

  it('is the same for the same seed, and another for another seed', () => {
    assert.deepEqual(faultSchedule(options), faultSchedule(options));
    assert.notDeepEqual(faultSchedule(options), faultSchedule({ ...options, seed: 43 }));
  });

  it('holds every fault asked for, in time order, within the middle of the run', () => {
    const s = faultSchedule(options);
    assert.equal(s.length, 130);
    for (const kind of Object.keys(options.counts) as Array<keyof typeof options.counts>)
      assert.equal(s.filter((f) => f.kind === kind).length, options.counts[kind], kind);
    assert.deepEqual(
      s.map((f) => f.at),
      [...s.map((f) => f.at)].sort((a, b) => a - b),
    );
    assert.ok(s.every((f) => f.at >= 120_000 && f.at <= 1_020_000));
  });

  it('spaces broker and Redis faults at least the gap apart: one at a time', () => {
    const infra = faultSchedule(options).filter((f) => f.kind === 'kill-broker' || f.kind === 'kill-redis-master');
    for (let i = 1; i < infra.length; i++) assert.ok(infra[i]!.at - infra[i - 1]!.at >= 30_000, `${i}`);
  });

  it('refuses a run too short to space them, instead of injecting fewer', () => {
    assert.throws(
      () => faultSchedule({ ...options, durationMs: 120_000 }),
      /20 broker and Redis faults 30000 ms apart do not fit in 90 s of faults: run longer/,
    );
  });
});

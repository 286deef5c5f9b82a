// A rack dies: 30% of the fleet goes silent in the same moment. Each victim is reported unreachable
// exactly once and nobody else moves; the latencies are reported (the bench measures them at 10k).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { connectToInfra, percentile, waitUntil } from '@vigil/test-kit';
import { startHealthyFleet } from './heartbeat-fleet';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const INTERVAL = 1000;
const THRESHOLD = 3;
const AGENTS = 2000;
const VICTIMS = 600;

describe('heartbeat when 30% of the fleet dies at once', { timeout: 300_000 }, () => {
  const { kafka, codec, close } = connectToInfra('heartbeat-correlated-test');
  const stops: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    await close();
  });

  it(`${VICTIMS} of ${AGENTS} agents killed together: each exactly one unreachable, nobody else leaves healthy`, async (t) => {
    const run = randomUUID().slice(0, 6);
    const prefix = `rack${run}`;
    const { hb, watch, fleet } = await startHealthyFleet({
      kafka,
      codec,
      group: `heartbeat-rack-${run}`,
      prefix,
      agents: AGENTS,
      intervalMs: INTERVAL,
      stops,
    });
    await sleep(3 * INTERVAL);

    fleet.send(`kill ${VICTIMS}`);
    const killed = await fleet.waitFor('killed');
    const victims = new Set(killed.agents!);
    assert.equal(victims.size, VICTIMS);
    await waitUntil(
      () => [...victims].every((a) => watch.of(a).includes('unreachable')),
      60_000,
      'every victim reported unreachable',
    );
    await sleep(4 * INTERVAL); // room for a duplicate or a flap to show

    const endToEnd: number[] = [];
    const decision: number[] = [];
    for (const a of victims) {
      const dead = watch.seen.filter((x) => x.agentId === a && x.to === 'unreachable');
      assert.equal(dead.length, 1, `${a}: exactly one unreachable`);
      const d = dead[0]!;
      assert.ok(d.since - d.lastHeartbeatAt! > THRESHOLD * INTERVAL, `${a}: never before ${THRESHOLD} intervals`);
      endToEnd.push(d.receivedAt - killed.lastBeats![a]! - THRESHOLD * INTERVAL);
      decision.push(d.since - d.lastHeartbeatAt! - THRESHOLD * INTERVAL);
    }
    const others = watch.seen.filter((x) => !victims.has(x.agentId) && x.to !== 'healthy');
    assert.deepEqual(others, [], 'no survivor left healthy');
    const ids = new Set(watch.seen.map((x) => x.eventId));
    assert.equal(ids.size, watch.seen.length, 'every transition has its own event id');

    const count = await hb.metricSum('vigil_heartbeat_detection_latency_seconds_count');
    const sum = await hb.metricSum('vigil_heartbeat_detection_latency_seconds_sum');
    assert.equal(count, VICTIMS, 'each detection is in the latency histogram once');
    const fmt = (xs: number[]) =>
      `p50 ${percentile(xs, 50)} ms, p99 ${percentile(xs, 99)} ms, max ${Math.max(...xs)} ms`;
    t.diagnostic(`beyond ${THRESHOLD} intervals, end to end (event read minus last beat sent): ${fmt(endToEnd)}`);
    t.diagnostic(`beyond ${THRESHOLD} intervals, the decision (broker time): ${fmt(decision)}`);
    t.diagnostic(`the service's metric (until Kafka acked): mean ${Math.round((sum / count) * 1000)} ms`);
  });
});

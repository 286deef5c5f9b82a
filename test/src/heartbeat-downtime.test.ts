// heartbeat restarted after two minutes down, with a backlog that holds a killed tenth of the live
// fleet and a whole fleet that stopped long ago: it judges the backlog on broker time.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, describe, it } from 'node:test';
import {
  connectToInfra,
  startFleet,
  startHeartbeat,
  waitUntil,
  watchLiveness,
  type RunningFleet,
  type RunningHeartbeat,
} from '@vigil/test-kit';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const INTERVAL = 1000;
const FLEET = 1000;
const OLD_FLEET = 300;
const DOWN_MS = 120_000;

describe('heartbeat after downtime with a backlog', { timeout: 330_000 }, () => {
  const { kafka, codec, close } = connectToInfra('heartbeat-downtime-test');
  const stops: Array<() => Promise<unknown>> = [];
  after(async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    await close();
  });
  const heartbeat = async (group: string, logFile?: string) => {
    const hb = await startHeartbeat(group, {}, { ownAllPartitions: true, logFile });
    stops.push(() => hb.stop());
    return hb;
  };
  const fleetOf = (prefix: string, agents: number) => {
    const fleet = startFleet({ agents, prefix, intervalMs: INTERVAL });
    stops.push(() => fleet.kill());
    return fleet;
  };

  it('down 2 min under a fleet at 1 s: each agent killed meanwhile unreachable exactly once, a fleet gone long ago never healthy, the live ones untouched', async (t) => {
    const run = randomUUID().slice(0, 6);
    const group = `heartbeat-down-${run}`;
    const live = `down${run}-live`;
    const old = `down${run}-old`;
    const watch = await watchLiveness(kafka, codec, `down${run}`);
    stops.push(() => watch.stop());
    const mine = (agentId: string) => agentId.startsWith(live) || agentId.startsWith(old);

    let hb: RunningHeartbeat = await heartbeat(group);
    const fleet: RunningFleet = fleetOf(live, FLEET);
    await fleet.waitFor('started');
    await waitUntil(
      () =>
        new Set(
          watch
            .to('healthy')
            .filter((x) => x.agentId.startsWith(live))
            .map((x) => x.agentId),
        ).size >= FLEET,
      90_000,
      `${FLEET} agents healthy`,
    );
    await hb.stop(); // SIGTERM: its offsets and leases are saved; the backlog starts here
    const downSince = Date.now();

    // A fleet that beats for a few seconds and is gone (SIGKILL: no goodbye) long before the restart.
    const oldFleet = fleetOf(old, OLD_FLEET);
    await oldFleet.waitFor('started');
    await sleep(5000);
    await oldFleet.kill();

    // A tenth of the live fleet dies halfway through the downtime.
    await sleep(DOWN_MS / 2 - (Date.now() - downSince));
    fleet.send(`kill ${FLEET / 10}`);
    const killed = (await fleet.waitFor('killed')).agents!;
    assert.equal(killed.length, FLEET / 10);
    await sleep(DOWN_MS - (Date.now() - downSince));

    const restartedAt = Date.now();
    const seenBefore = watch.seen.length;
    hb = await heartbeat(group);
    await waitUntil(
      () => killed.every((a) => watch.of(a).includes('unreachable')),
      90_000,
      'every agent killed during the downtime reported unreachable',
    );
    const foundAfterMs =
      Math.max(...killed.map((a) => watch.seen.find((x) => x.agentId === a && x.to === 'unreachable')!.receivedAt)) -
      restartedAt;
    // Caught up: every partition at its end; then room for a late duplicate or a flap to show.
    await waitUntil(
      async () => (await hb.metricSum('vigil_heartbeat_partition_lag_records{')) === 0,
      90_000,
      'the restarted service to catch up',
    );
    await sleep(5 * INTERVAL);

    const after = watch.seen.slice(seenBefore).filter((x) => mine(x.agentId));
    for (const a of killed) {
      const seen = after.filter((x) => x.agentId === a).map((x) => x.to);
      // Suspect first is fine: the replay's clock may stop between the two deadlines at a batch's end.
      assert.ok(
        seen.length > 0 &&
          seen.length <= 2 &&
          seen.at(-1) === 'unreachable' &&
          seen.slice(0, -1).every((s) => s === 'suspect'),
        `${a}: unreachable exactly once after the restart (at most a suspect before it), saw ${seen.join(', ')}`,
      );
    }
    const ghosts = watch.seen.filter((x) => x.agentId.startsWith(old));
    assert.deepEqual(ghosts, [], 'the fleet that stopped long ago: no transition at all, in particular no healthy');
    const victims = new Set(killed);
    const others = after.filter((x) => x.agentId.startsWith(live) && !victims.has(x.agentId));
    assert.deepEqual(others, [], 'the live agents stay healthy: no transition');

    const stale = await hb.metricSum('vigil_heartbeat_stale_beats_total');
    assert.ok(stale >= OLD_FLEET, `stale beats were recognised as such (${stale})`);
    const rateSum = await hb.metricSum('vigil_heartbeat_backlog_replay_records_per_second_sum');
    const rateCount = await hb.metricSum('vigil_heartbeat_backlog_replay_records_per_second_count');
    t.diagnostic(
      `restart after ${DOWN_MS / 1000} s: killed agents all reported ${foundAfterMs} ms after the restart; ` +
        `${stale} stale beats; backlog replayed at ${Math.round(rateSum / Math.max(rateCount, 1))} records/s per partition (mean of ${rateCount})`,
    );
  });
});

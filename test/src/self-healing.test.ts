// The design's acceptance scenario 1, end to end with real processes: simulated agents (real SDK)
// beat every second; heartbeat finds the killed ones; the notifier sends heal commands; the fleet's
// supervisor answers them (restarting the agent, or failing to); exhausted heals become one alert at
// a real webhook receiver, resolved once when the agent is back.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Topics, type AgentLivenessChanged, type HealCommand } from '@vigil/events';
import {
  connectToInfra,
  freePort,
  percentile,
  startFleet,
  startHeartbeat,
  startNotifier,
  stopProcess,
  waitUntil,
  watchTopic,
  WebhookReceiver,
  type RunningFleet,
  type RunningHeartbeat,
  type RunningNotifier,
  type TopicWatch,
} from '@vigil/test-kit';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const run = randomUUID().slice(0, 6);
const INTERVAL = 1000;
/** The design's bound for the heal command: 3 intervals + 0.5 s after the last beat; fails past twice that. */
const BOUND = 3 * INTERVAL + 500;

describe('self-healing fleet: heartbeat -> notifier -> supervisor -> alert', { timeout: 300_000 }, () => {
  const { kafka, codec, close } = connectToInfra('self-healing-test');
  let receiver: WebhookReceiver;
  let hb: RunningHeartbeat;
  let notifier: RunningNotifier;
  let healing: RunningFleet;
  let failing: RunningFleet;
  let heals: TopicWatch<HealCommand>;
  let liveness: TopicWatch<AgentLivenessChanged>;
  const mine = (id: string | null) => !!id?.startsWith(`sh${run}`);

  before(async () => {
    receiver = new WebhookReceiver(await freePort());
    await receiver.up();
    const dir = mkdtempSync(path.join(tmpdir(), 'vigil-self-healing-'));
    const policy = path.join(dir, 'policy.yaml');
    writeFileSync(
      policy,
      `heal:
  maxAttempts: 3
  timeoutMs: 3000
  verifyMs: 6000
  backoff: { initialMs: 500, factor: 2, jitter: 0.1 }
receivers:
  - { name: ops, url: "${receiver.url}" }
route: { group_by: ['...'], group_wait: 0s, group_interval: 500ms }
delivery:
  backoff: { initialMs: 200, maxMs: 1000 }
`,
    );
    heals = await watchTopic(kafka, codec, Topics.healCommands, (h) => mine(h.agentId));
    liveness = await watchTopic(kafka, codec, Topics.liveness, (l) => mine(l.agentId) && l.to === 'unreachable');
    hb = await startHeartbeat(`sh-heartbeat-${run}`, {}, { ownAllPartitions: true });
    notifier = await startNotifier(`sh-notifier-${run}`, { NOTIFIER_POLICY_FILE: policy, SWEEP_INTERVAL_MS: '100' });
    // Two fleets of 100: one whose supervisor's restarts always work, one whose restarts never do.
    const fleet = (name: string, success: string) =>
      startFleet({
        agents: 100,
        prefix: `sh${run}${name}`,
        intervalMs: INTERVAL,
        args: ['--heal-success', success, '--heal-latency-ms', '200', '--agents-per-host', '5'],
      });
    healing = fleet('ok', '1');
    failing = fleet('ko', '0');
    await Promise.all([healing.waitFor('started'), failing.waitFor('started')]);
    await waitUntil(
      async () => (await hb.metricSum('vigil_heartbeat_agents{state="healthy"')) >= 200,
      60_000,
      'both fleets healthy',
    );
  });

  after(async () => {
    await Promise.allSettled([healing?.quit(), failing?.quit()]);
    await Promise.allSettled([stopProcess(notifier.child), hb.stop()]);
    await heals.stop();
    await liveness.stop();
    await receiver.down();
    await close();
  });

  it('heals killed agents whose restart works, with no alert; alerts once on those whose restarts fail, resolved once when they are back', async () => {
    healing.send('kill 5');
    failing.send('kill 5');
    const [okKilled, koKilled] = await Promise.all([healing.waitFor('killed'), failing.waitFor('killed')]);
    const lastBeats = { ...okKilled.lastBeats, ...koKilled.lastBeats } as Record<string, number>;
    const ok = okKilled.agents!;
    const ko = koKilled.agents!;

    // The healed ones: one heal each (it works), the supervisor restarts them, they beat again.
    await waitUntil(
      () => ok.every((a) => healing.events.some((e) => e.event === 'revived' && e.agents!.includes(a))),
      30_000,
      'the healable agents restarted by their supervisor',
    );
    // The others: three heals each, then one alert each at the receiver.
    await waitUntil(() => ko.every((a) => receiver.distinct(a).length >= 1), 60_000, 'an alert per unhealable agent');
    await sleep(8000); // past verifyMs: a healed agent that had not come back would have been retried
    for (const a of ok) {
      assert.deepEqual(
        heals.values((h) => h.agentId === a).map((h) => h.attempt),
        [1],
        `${a}: one heal`,
      );
      assert.deepEqual(receiver.distinct(a), [], `${a}: no alert`);
    }
    for (const a of ko) {
      assert.deepEqual(
        heals.values((h) => h.agentId === a).map((h) => h.attempt),
        [1, 2, 3],
        `${a}: three heals`,
      );
      assert.deepEqual(
        receiver.distinct(a).map((g) => g.body.status),
        ['firing'],
        `${a}: one alert`,
      );
      // Labelled from the agent registry heartbeat wrote: the agent's own labels, its host and tier.
      const labels = receiver.distinct(a)[0]!.body.alerts[0]!.labels;
      assert.equal(labels.fleet, `sh${run}ko`, JSON.stringify(labels));
      assert.match(labels.host ?? '', /^sim-host-\d+$/);
      assert.match(labels.tier ?? '', /^[0-2]$/);
    }
    // The first heal within the design's bound of the death (the figure is printed).
    const after = (w: TopicWatch<{ agentId: string }>) =>
      [...ok, ...ko].map((a) => w.seen.find((s) => s.value.agentId === a)!.receivedAt - lastBeats[a]!);
    const toUnreachable = after(liveness);
    const toHeal = after(heals);
    console.log(
      `  after the agent's last beat: unreachable read p50 ${percentile(toUnreachable, 50)} ms, max ${Math.max(...toUnreachable)} ms; ` +
        `heal command read p50 ${percentile(toHeal, 50)} ms, max ${Math.max(...toHeal)} ms (bound ${BOUND})`,
    );
    assert.ok(Math.max(...toHeal) < 2 * BOUND, `heal commands came late: ${toHeal.join(', ')}`);

    // The unhealable come back by other means (an operator): each alert resolves, once.
    failing.send(`revive ${ko.join(' ')}`);
    await waitUntil(() => ko.every((a) => receiver.distinct(a).length >= 2), 30_000, 'the resolutions');
    await sleep(2000);
    for (const a of ko) {
      assert.deepEqual(
        receiver.distinct(a).map((g) => g.body.status),
        ['firing', 'resolved'],
      );
    }
    const alerts = await notifier.get<{ alerts: unknown[] }>(`/alerts?agent=${ko[0]}`);
    assert.deepEqual(alerts.alerts, []);
  });
});

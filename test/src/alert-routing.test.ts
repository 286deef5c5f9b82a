// Alert routing as Alertmanager users know it, on a real notifier process, broker, registry, Redis
// and a real Alertmanager: grouping by host, HostDown inhibiting its agents' alerts, group timings
// seen on a receiver's clock, silences over HTTP, and a group that survives a SIGKILL.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Topics, type AgentLivenessChanged, type AgentRegistration, type AlertEvent } from '@vigil/events';
import {
  connectToInfra,
  freePort,
  startNotifier,
  stopProcess,
  waitUntil,
  watchTopic,
  WebhookReceiver,
  type RunningNotifier,
  type TopicWatch,
} from '@vigil/test-kit';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const run = randomUUID().slice(0, 8);
const dir = mkdtempSync(path.join(tmpdir(), 'vigil-routing-'));
const policyFile = path.join(dir, 'policy.yaml');
const alertmanagerUrl = process.env.ALERTMANAGER_URL;

/** How far a flush may land from its due time: the sweep tick (100 ms), Kafka and Redis hops. */
const TOLERANCE_MS = 900;
const TIMING = { wait: 3000, interval: 2000, repeat: 6000 };

type AmAlert = { labels: Record<string, string>; endsAt: string; status: { state: string } };

describe('alert routing: grouping, inhibition, silences and a real Alertmanager', { timeout: 300_000 }, () => {
  const { kafka, codec, producer, close } = connectToInfra('routing-test');
  const group = `routing-test-${run}`;
  const host = `rt${run}-host`;
  let notifier: RunningNotifier;
  let receiver: WebhookReceiver;
  let alerts: TopicWatch<AlertEvent>;
  const mine = (a: AlertEvent) => (a.labels.host ?? '').startsWith(`rt${run}`);

  const since = new Map<string, number>();
  const liveness = (agentIds: string[], to: AgentLivenessChanged['to'], onHost: string) =>
    producer.send(
      Topics.liveness,
      agentIds.map((agentId) => {
        const at = Math.max(Date.now(), (since.get(agentId) ?? 0) + 1);
        since.set(agentId, at);
        const from = to === 'unreachable' ? 'healthy' : 'unreachable';
        return {
          value: {
            agentId,
            from,
            to,
            since: at,
            lastHeartbeatAt: at - 3000,
            reason: `test: ${to}`,
            host: onHost,
            eventId: `${agentId}/${from}>${to}@${at}`,
          } satisfies AgentLivenessChanged,
        };
      }),
    );
  const register = (agentIds: string[], onHost: string, dependencies: string[] = []) =>
    producer.send(
      Topics.agentRegistry,
      agentIds.map((agentId) => ({
        key: agentId,
        value: {
          agentId,
          host: onHost,
          agentVersion: '1.0.0',
          priorityTier: 1,
          dependencies,
          labels: { fleet: `rt${run}` },
          intervalMs: 1000,
          missThreshold: 3,
          startPeriodMs: 0,
          bootId: 'boot-1',
          registeredAt: Date.now(),
          changedAt: Date.now(),
        } satisfies AgentRegistration,
      })),
    );
  /** Notifications for one host's group at the webhook receiver, distinct by idempotency key. */
  const groupNotifications = (onHost: string) => {
    const seen = new Set<string>();
    return receiver.got.filter((g) => g.body.groupLabels.host === onHost && !seen.has(g.key) && seen.add(g.key));
  };
  const amAlerts = async (filter: string) =>
    (await (await fetch(`${alertmanagerUrl}/api/v2/alerts?filter=${encodeURIComponent(filter)}`)).json()) as AmAlert[];

  before(async () => {
    assert.ok(alertmanagerUrl, 'ALERTMANAGER_URL is not set: run infra/up.sh (it starts an Alertmanager)');
    receiver = new WebhookReceiver(await freePort());
    await receiver.up();
    // Agents are alerted at once (no heal: this is about routing). The timing and wait hosts have
    // routes of their own with the timings each scenario observes.
    writeFileSync(
      policyFile,
      `heal:
  actions: { unreachable: null, degraded: null }
receivers:
  - { name: ops, url: "${receiver.url}" }
  - { name: am, kind: alertmanager, url: "${alertmanagerUrl}" }
route:
  group_by: [host]
  group_wait: 2s
  group_interval: 2s
  repeat_interval: 1h
  routes:
    - matchers: ['host=~"rt.*-timing"']
      group_wait: ${TIMING.wait}ms
      group_interval: ${TIMING.interval}ms
      repeat_interval: ${TIMING.repeat}ms
    - matchers: ['host=~"rt.*-wait"']
      receiver: ops
      group_wait: 8s
delivery:
  backoff: { initialMs: 200, maxMs: 1000 }
`,
    );
    alerts = await watchTopic(kafka, codec, Topics.alerts, mine);
    notifier = await startNotifier(group, { NOTIFIER_POLICY_FILE: policyFile, SWEEP_INTERVAL_MS: '100' });
  });

  after(async () => {
    await stopProcess(notifier.child);
    await alerts.stop();
    await receiver.down();
    await close();
  });

  it('50 agents of one host die together: one notification with HostDown, the 50 agent alerts open but inhibited; back: resolved once', async () => {
    const agents = Array.from({ length: 50 }, (_, i) => `rt${run}-a${i}`);
    await register(agents, host);
    await sleep(1500); // the registry read (a real fleet registers long before it dies)
    await liveness(agents, 'unreachable', host);

    await waitUntil(() => alerts.values((a) => a.alertName === 'HostDown').length >= 1, 20_000, 'HostDown');
    await waitUntil(() => groupNotifications(host).length >= 1, 20_000, 'the grouped notification');
    await sleep(3000); // a second notification would come within group_interval
    const sent = groupNotifications(host);
    assert.equal(sent.length, 1, `one notification for the host, got ${sent.length}`);
    assert.deepEqual(
      sent[0]!.body.alerts.map((a) => `${a.labels.alertname}/${a.status}`),
      ['HostDown/firing'],
      'the agents are consequences: inhibited, not notified',
    );
    assert.deepEqual(sent[0]!.body.groupLabels, { host });
    assert.equal(alerts.values((a) => a.alertName === 'HostDown').length, 1, 'one HostDown');

    // Open and visible, each saying what mutes it.
    const open = await notifier.get<{ alerts: Array<AlertEvent & { state: string; inhibitedBy: string[] }> }>(
      `/alerts?host=${host}`,
    );
    const hostDown = open.alerts.find((a) => a.alertName === 'HostDown')!;
    const agentAlerts = open.alerts.filter((a) => a.alertName === 'AgentUnreachable');
    assert.equal(agentAlerts.length, 50);
    assert.equal(hostDown.state, 'active');
    for (const a of agentAlerts) {
      assert.equal(a.state, 'suppressed');
      assert.deepEqual(a.inhibitedBy, [hostDown.fingerprint]);
    }

    // The real Alertmanager got the same (unmuted) alerts, firing.
    await waitUntil(async () => (await amAlerts(`host="${host}"`)).length >= 1, 15_000, 'HostDown in Alertmanager');
    const inAm = await amAlerts(`host="${host}"`);
    assert.deepEqual(
      inAm.map((a) => a.labels.alertname),
      ['HostDown'],
    );
    assert.equal(inAm[0]!.status.state, 'active');
    assert.ok(Date.parse(inAm[0]!.endsAt) > Date.now(), 'firing: it ends in the future unless pushed again');

    // The host comes back.
    await liveness(agents, 'healthy', host);
    await waitUntil(() => groupNotifications(host).length >= 2, 20_000, 'the resolution');
    await sleep(3000);
    const all = groupNotifications(host);
    assert.equal(all.length, 2, 'firing, then resolved: nothing else');
    assert.deepEqual(
      all[1]!.body.alerts.map((a) => `${a.labels.alertname}/${a.status}`),
      ['HostDown/resolved'],
      'an agent alert never notified firing is never notified resolved',
    );
    assert.equal(all[1]!.body.status, 'resolved');
    assert.deepEqual((await notifier.get<{ alerts: unknown[] }>(`/alerts?host=${host}`)).alerts, []);
    // Alertmanager shows it resolved: its API lists no alert that has ended.
    await waitUntil(async () => (await amAlerts(`host="${host}"`)).length === 0, 15_000, 'resolved in Alertmanager');
  });

  it('reports an agent whose declared dependency is unreachable as a consequence: inhibited by it, not notified', async () => {
    const [dbHost, webHost] = [`rt${run}-db`, `rt${run}-web`];
    const [db, web] = [`rt${run}-db0`, `rt${run}-web0`];
    await register([db], dbHost);
    await register([web], webHost, [db]);
    await sleep(1500);
    await liveness([db], 'unreachable', dbHost);
    await liveness([web], 'unreachable', webHost);
    await waitUntil(() => groupNotifications(dbHost).length >= 1, 15_000, "the database's notification");
    await sleep(3000); // past the web host's group_wait and a tick
    assert.deepEqual(groupNotifications(webHost), [], 'the web agent is a consequence of its database');
    const [dbAlert] = (await notifier.get<{ alerts: AlertEvent[] }>(`/alerts?agent=${db}`)).alerts;
    const [webAlert] = (
      await notifier.get<{ alerts: Array<AlertEvent & { state: string; inhibitedBy: string[] }> }>(
        `/alerts?agent=${web}`,
      )
    ).alerts;
    assert.equal(webAlert?.labels.depends_on, db);
    assert.equal(webAlert?.state, 'suppressed');
    assert.deepEqual(webAlert?.inhibitedBy, [dbAlert!.fingerprint]);
    // The database back, the web agent still down: now it is its own problem, and notified.
    await liveness([db], 'healthy', dbHost);
    await waitUntil(() => groupNotifications(webHost).length >= 1, 15_000, 'the web agent, on its own');
    assert.deepEqual(
      groupNotifications(webHost)[0]!.body.alerts.map((a) => `${a.labels.agent}/${a.status}`),
      [`${web}/firing`],
    );
    await liveness([web], 'healthy', webHost);
  });

  it('paces a group by group_wait, group_interval and repeat_interval, on the receiver clock', async () => {
    const onHost = `rt${run}-timing`;
    const [a, b] = [`rt${run}-t0`, `rt${run}-t1`];
    await liveness([a], 'unreachable', onHost);
    await waitUntil(() => alerts.values((x) => x.agentId === a).length >= 1, 15_000, 'the first alert');
    const t0 = alerts.seen.find((x) => x.value.agentId === a)!.receivedAt;
    await waitUntil(() => groupNotifications(onHost).length >= 1, 15_000, 'the first notification');
    const first = groupNotifications(onHost)[0]!;
    // A second alert of the group, after the first notification: it waits for the group's next tick.
    await liveness([b], 'unreachable', onHost);
    await waitUntil(() => groupNotifications(onHost).length >= 2, 15_000, 'the second notification');
    await waitUntil(() => groupNotifications(onHost).length >= 3, 20_000, 'the repeat');
    const [, second, repeat] = groupNotifications(onHost);
    const within = (what: string, got: number, want: number) =>
      assert.ok(
        got >= want - TOLERANCE_MS && got <= want + TOLERANCE_MS,
        `${what}: ${got} ms, want ${want} ms ± ${TOLERANCE_MS}`,
      );
    console.log(
      `  group_wait ${TIMING.wait} ms: first after ${first.at - t0} ms; group_interval ${TIMING.interval} ms: second ` +
        `${second!.at - first.at} ms later; repeat_interval ${TIMING.repeat} ms: repeat ${repeat!.at - second!.at} ms later`,
    );
    within('first notification after the alert (group_wait)', first.at - t0, TIMING.wait);
    const gap = second!.at - first.at;
    assert.ok(
      gap % TIMING.interval < TOLERANCE_MS || TIMING.interval - (gap % TIMING.interval) < TOLERANCE_MS,
      `second notification on a group_interval tick: ${gap} ms after the first`,
    );
    assert.ok(gap <= 2 * TIMING.interval + TOLERANCE_MS, `the second alert waited at most two ticks: ${gap} ms`);
    within('repeat after the last notification (repeat_interval)', repeat!.at - second!.at, TIMING.repeat);
    assert.deepEqual(
      first.body.alerts.map((x) => x.labels.agent),
      [a],
    );
    const fps = (n: typeof first) => n.body.alerts.map((x) => `${x.fingerprint}@${x.startsAt}/${x.status}`).sort();
    assert.equal(second!.body.alerts.length, 2);
    assert.deepEqual(fps(repeat!), fps(second!), 'a repeat re-sends the same open alerts, not new ones');
    await liveness([a, b], 'healthy', onHost);
  });

  it('mutes what a silence set over HTTP matches, keeps it open and visible, and notifies it once the silence expires', async () => {
    const onHost = `rt${run}-silenced`;
    const agent = `rt${run}-s0`;
    const bad = await fetch(`http://127.0.0.1:${notifier.port}/silences`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ matchers: ['host=~".*"'], createdBy: 'test', comment: 'everything', duration: '1h' }),
    });
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { message: string }).message, /would mute everything/);

    const res = await fetch(`http://127.0.0.1:${notifier.port}/silences`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        matchers: [{ name: 'agent', value: agent }],
        createdBy: 'alice',
        comment: 'upgrading it',
        duration: '5s',
      }),
    });
    assert.equal(res.status, 201);
    const { silenceID, silence } = (await res.json()) as { silenceID: string; silence: { endsAt: number } };
    await liveness([agent], 'unreachable', onHost);
    await waitUntil(() => alerts.values((x) => x.agentId === agent).length >= 1, 15_000, 'the alert');
    const listed = await notifier.get<{ alerts: Array<{ state: string; silencedBy: string[] }> }>(
      `/alerts?agent=${agent}`,
    );
    assert.equal(listed.alerts[0]?.state, 'suppressed');
    assert.deepEqual(listed.alerts[0]?.silencedBy, [silenceID]);
    const silences = await notifier.get<{
      silences: Array<{ id: string; state: string; createdBy: string; comment: string }>;
    }>('/silences');
    const mineListed = silences.silences.find((s) => s.id === silenceID)!;
    assert.deepEqual([mineListed.state, mineListed.createdBy, mineListed.comment], ['active', 'alice', 'upgrading it']);

    await waitUntil(() => groupNotifications(onHost).length >= 1, 15_000, 'the notification after the silence');
    const n = groupNotifications(onHost)[0]!;
    assert.ok(n.at >= silence.endsAt, `notified ${silence.endsAt - n.at} ms before the silence ended`);
    assert.ok(
      n.at <= silence.endsAt + 2000 + TOLERANCE_MS,
      `notified ${n.at - silence.endsAt} ms after it ended (group_interval 2 s)`,
    );
    assert.equal(
      (await notifier.get<{ silences: Array<{ id: string; state: string }> }>('/silences')).silences.find(
        (s) => s.id === silenceID,
      )?.state,
      'expired',
    );

    // Expired by hand: DELETE ends it now.
    const other = (await (
      await fetch(`http://127.0.0.1:${notifier.port}/silences`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ matchers: ['host="nowhere"'], createdBy: 'bob', comment: 'x', duration: '1h' }),
      })
    ).json()) as { silenceID: string };
    const del = await fetch(`http://127.0.0.1:${notifier.port}/silences/${other.silenceID}`, { method: 'DELETE' });
    assert.equal(((await del.json()) as { silence: { state: string } }).silence.state, 'expired');
    assert.equal((await fetch(`http://127.0.0.1:${notifier.port}/silences/nope`, { method: 'DELETE' })).status, 404);
    await liveness([agent], 'healthy', onHost);
  });

  it('sends a group that was waiting when the notifier was SIGKILLed, once, after the restart', async () => {
    const onHost = `rt${run}-wait`;
    const agent = `rt${run}-w0`;
    await liveness([agent], 'unreachable', onHost);
    await waitUntil(() => alerts.values((x) => x.agentId === agent).length >= 1, 15_000, 'the alert');
    const t0 = alerts.seen.find((x) => x.value.agentId === agent)!.receivedAt;
    await waitUntil(
      async () =>
        (await notifier.get<{ groups: Array<{ groupLabels: Record<string, string> }> }>('/alerts/groups')).groups.some(
          (g) => g.groupLabels.host === onHost,
        ),
      10_000,
      'the group, waiting',
    );
    notifier.child.kill('SIGKILL');
    await notifier.exited;
    assert.equal(groupNotifications(onHost).length, 0, 'killed during group_wait (8 s)');
    notifier = await startNotifier(group, { NOTIFIER_POLICY_FILE: policyFile, SWEEP_INTERVAL_MS: '100' });
    await waitUntil(() => groupNotifications(onHost).length >= 1, 30_000, 'the group after the restart');
    await sleep(4000);
    const sent = groupNotifications(onHost);
    assert.equal(sent.length, 1);
    assert.ok(
      sent[0]!.at - t0 >= 8000 - TOLERANCE_MS,
      `sent ${sent[0]!.at - t0} ms after the alert, before group_wait`,
    );
    assert.deepEqual(
      sent[0]!.body.alerts.map((a) => a.labels.agent),
      [agent],
    );
  });
});

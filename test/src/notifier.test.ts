// The notifier as a real process against the real broker, registry and Redis: liveness events in
// (as heartbeat publishes them), heal commands out, this test playing the supervisor that answers
// them with heal results, alerts out. Processes are stopped and SIGKILLed for real.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import {
  RecordHeaderNames,
  Topics,
  type AgentLivenessChanged,
  type AlertEvent,
  type HealCommand,
  type HealResult,
  type StateChangeEvent,
} from '@vigil/events';
import {
  connectToInfra,
  freePort,
  metricSum,
  startService,
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
const dir = mkdtempSync(path.join(tmpdir(), 'vigil-notifier-'));
const policyFile = path.join(dir, 'policy.yaml');
// Fast on purpose: heals time out after 2 s, retries wait 500 ms then 1 s (no jitter, so the
// growing gaps are what the test sees), degraded agents are alerted at once; each alert is a group of
// its own, notified at once (routing and grouping have their own test); webhooks retry every 200 ms
// to 1 s; the "broken" receiver (nothing listens there) gives up after 3 tries.
function writePolicy(receiverPort: number, brokenPort: number, slowPort: number): void {
  writeFileSync(
    policyFile,
    `heal:
  actions: { unreachable: restart, degraded: null }
  maxAttempts: 3
  timeoutMs: 2000
  verifyMs: 3000
  backoff: { initialMs: 500, factor: 2, maxMs: 5000, jitter: 0 }
receivers:
  - { name: ops, url: "http://127.0.0.1:${receiverPort}/hook", timeoutMs: 1000 }
  - { name: broken, url: "http://127.0.0.1:${brokenPort}/hook", timeoutMs: 500, maxAttempts: 3 }
  - { name: slow, url: "http://127.0.0.1:${slowPort}/hook", timeoutMs: 15000 }
route:
  group_by: ['...']
  group_wait: 0s
  group_interval: 300ms
  repeat_interval: 1h
delivery:
  maxAttempts: 1000
  backoff: { initialMs: 200, factor: 2, maxMs: 1000, jitter: 0.1 }
stateRules:
  - { name: ServiceFailed, entityType: service, field: status, equals: failed, severity: critical }
alerts:
  severity: { unreachable: critical, degraded: warning }
`,
  );
}

const SLOW_RECEIVER_MS = 8000;

const notifierEnv = {
  NOTIFIER_POLICY_FILE: policyFile,
  SWEEP_INTERVAL_MS: '100',
  OUTBOX_REPUBLISH_AFTER_MS: '1000',
};

describe('notifier: heal first, then alert once, resolve when the cause clears', { timeout: 300_000 }, () => {
  const { kafka, codec, producer, close } = connectToInfra('notifier-test');
  const group = `notifier-test-${run}`;
  let notifier: RunningNotifier;
  let heals: TopicWatch<HealCommand>;
  let alerts: TopicWatch<AlertEvent>;
  /** agent id -> how the supervisor answers attempt n (true: heal succeeds); no entry: fails. */
  const answers = new Map<string, (attempt: number) => boolean | 'silent'>();
  const mine = (agentId: string | null) => !!agentId?.startsWith(`nt${run}`);

  const since = new Map<string, number>();
  /** Publishes a liveness transition as heartbeat would, each one newer than the agent's last. */
  const liveness = async (
    agentId: string,
    to: AgentLivenessChanged['to'],
    from: AgentLivenessChanged['from'] = 'healthy',
  ) => {
    const at = Math.max(Date.now(), (since.get(agentId) ?? 0) + 1);
    since.set(agentId, at);
    await producer.send(Topics.liveness, [
      {
        value: {
          agentId,
          from,
          to,
          since: at,
          lastHeartbeatAt: at - 3000,
          reason: `test: ${to}`,
          host: 'test-host',
          eventId: `${agentId}/${from}>${to}@${at}`,
        },
      },
    ]);
  };
  const healsOf = (agentId: string) => heals.values((h) => h.agentId === agentId);
  const alertsOf = (agentId: string) => alerts.values((a) => a.agentId === agentId);

  let receiver: WebhookReceiver;
  /** Answers every request after SLOW_RECEIVER_MS: it must hold up nobody but itself. */
  let slow: WebhookReceiver;

  before(async () => {
    receiver = new WebhookReceiver(await freePort());
    await receiver.up();
    slow = new WebhookReceiver(await freePort(), SLOW_RECEIVER_MS);
    await slow.up();
    writePolicy(receiver.port, await freePort(), slow.port);
    heals = await watchTopic(
      kafka,
      codec,
      Topics.healCommands,
      (h) => mine(h.agentId),
      async (h) => {
        // The supervisor: a killed agent cannot heal itself; whatever hosts it answers.
        const answer = (answers.get(h.agentId) ?? (() => false))(h.attempt);
        if (answer === 'silent') return;
        const result: HealResult = {
          commandId: h.commandId,
          agentId: h.agentId,
          action: h.action,
          attempt: h.attempt,
          success: answer,
          error: answer ? null : 'restart failed: process exited with 1',
          completedAt: Date.now(),
        };
        await producer.send(Topics.healResults, [{ value: result }]);
      },
    );
    alerts = await watchTopic(kafka, codec, Topics.alerts, (a) => mine(a.agentId));
    notifier = await startNotifier(group, notifierEnv);
  });
  let extra: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const c of extra) await c().catch(() => undefined);
    extra = [];
  });
  after(async () => {
    await stopProcess(notifier.child);
    await receiver.down();
    await slow.down();
    await heals.stop();
    await alerts.stop();
    await close();
  });

  it('heals an agent that stays down three times with growing gaps, then fires exactly one alert; back, exactly one resolved', async () => {
    const agent = `nt${run}-down`;
    await liveness(agent, 'unreachable');
    await waitUntil(() => alertsOf(agent).length >= 1, 30_000, 'the alert after three failed heals');
    await sleep(1500); // room for a second alert, if one were coming
    const attempts = healsOf(agent);
    assert.deepEqual(
      attempts.map((h) => h.attempt),
      [1, 2, 3],
    );
    const gaps = [attempts[1]!.issuedAt - attempts[0]!.issuedAt, attempts[2]!.issuedAt - attempts[1]!.issuedAt];
    assert.ok(gaps[1]! > gaps[0]!, `gaps grow: ${gaps.join(', ')} ms`);
    assert.ok(gaps[0]! >= 500, `the first retry waits its backoff: ${gaps[0]} ms`);
    const fired = alertsOf(agent);
    assert.equal(fired.length, 1);
    assert.equal(fired[0]!.status, 'firing');
    assert.equal(fired[0]!.labels.cause, 'unreachable');
    const open = (await (await fetch(`http://127.0.0.1:${notifier.port}/alerts?agent=${agent}`)).json()) as {
      alerts: AlertEvent[];
    };
    assert.equal(open.alerts.length, 1);
    assert.equal(await metricSum(notifier.port, 'vigil_notifier_alerts_firing'), 1);

    await liveness(agent, 'healthy', 'unreachable');
    await waitUntil(() => alertsOf(agent).length >= 2, 15_000, 'the resolved alert');
    await sleep(1000);
    const all = alertsOf(agent);
    assert.deepEqual(
      all.map((a) => a.status),
      ['firing', 'resolved'],
    );
    assert.equal(all[1]!.fingerprint, all[0]!.fingerprint);
    assert.equal(await metricSum(notifier.port, 'vigil_notifier_alerts_firing'), 0);
    const history = (await (await fetch(`http://127.0.0.1:${notifier.port}/agents/${agent}/heals`)).json()) as {
      phase: string;
      attempts: Array<{ outcome: string }>;
    };
    assert.equal(history.phase, 'closed');
    assert.deepEqual(
      history.attempts.map((a) => a.outcome),
      ['failed', 'failed', 'failed'],
    );

    // The webhook receiver got both, as Alertmanager would send them.
    await waitUntil(() => new Set(receiver.of(agent).map((g) => g.key)).size >= 2, 15_000, 'two notifications');
    const sent = receiver.of(agent);
    assert.deepEqual([...new Set(sent.map((g) => g.body.status))], ['firing', 'resolved']);
    assert.equal(sent[0]!.body.version, '4');
    assert.equal(sent[0]!.body.receiver, 'ops');
    assert.equal(sent[0]!.body.alerts[0]!.fingerprint, fired[0]!.fingerprint);
    assert.equal(sent[0]!.body.alerts[0]!.endsAt, '0001-01-01T00:00:00Z');
    // The slow receiver got them too, and held up neither the other receiver nor consuming: the
    // resolution reached "ops" before the slow receiver had answered the firing notification.
    await waitUntil(() => new Set(slow.of(agent).map((g) => g.key)).size >= 2, 30_000, 'the slow receiver');
    const slowFiring = slow.of(agent).find((g) => g.body.status === 'firing')!;
    const opsResolved = sent.find((g) => g.body.status === 'resolved')!;
    assert.ok(
      opsResolved.at < slowFiring.at + SLOW_RECEIVER_MS,
      `a slow receiver delays only its own notifications (ops resolved ${opsResolved.at - slowFiring.at} ms after slow got firing)`,
    );
  });

  it('delivers every notification once a receiver that was down for 20 s is back, across a SIGKILL of the notifier; gives up on a dead one with a dead letter', async () => {
    const dlq = await watchTopic(
      kafka,
      codec,
      Topics.alerts.dlq!,
      (d) => d.consumerGroup === group && d.error.startsWith('webhook receiver broken'),
    );
    extra.push(() => dlq.stop());
    await receiver.down();
    const agents = [0, 1, 2].map((n) => `nt${run}-while-down-${n}`);
    for (const a of agents) await liveness(a, 'degraded');
    await waitUntil(() => agents.every((a) => alertsOf(a).length >= 1), 15_000, 'three alerts');
    await liveness(agents[0]!, 'healthy', 'degraded');
    await waitUntil(() => alertsOf(agents[0]!).length >= 2, 15_000, 'the resolved alert');
    const downAt = Date.now();
    await waitUntil(
      async () => (await metricSum(notifier.port, 'vigil_notifier_deliveries_pending')) >= 4,
      15_000,
      'the notifications queued',
    );
    // The pending deliveries live in Redis: a SIGKILLed notifier's successor sends them.
    notifier.child.kill('SIGKILL');
    await notifier.exited;
    notifier = await startNotifier(group, notifierEnv);
    await sleep(Math.max(0, 20_000 - (Date.now() - downAt)));
    assert.ok((await metricSum(notifier.port, 'vigil_notifier_deliveries_pending')) >= 4);
    await receiver.up();
    await waitUntil(
      () => agents.flatMap((a) => receiver.of(a).map((g) => g.key)).length >= 4,
      15_000,
      'all four notifications after the receiver came back',
    );
    await sleep(1000);
    const keys = new Set(agents.flatMap((a) => receiver.of(a).map((g) => g.key)));
    assert.equal(keys.size, 4, [...keys].join(', '));
    assert.ok(
      receiver.of(agents[0]!).some((g) => g.body.status === 'resolved'),
      'the resolution too',
    );
    // The receiver nobody listens on gave up after 3 tries, each notification with a dead letter.
    await waitUntil(() => dlq.seen.length >= 4, 15_000, 'dead letters for the broken receiver');
    assert.match(dlq.seen[0]!.value.error, /3 attempts failed; last: /);
    assert.equal(dlq.seen[0]!.value.reason, 'rejected');
  });

  it('raises no alert when the second heal works and the agent comes back', async () => {
    const agent = `nt${run}-second`;
    answers.set(agent, (attempt) => {
      // The heal works: the supervisor restarted it, and the agent beats again.
      if (attempt === 2) setTimeout(() => void liveness(agent, 'healthy', 'unreachable'), 200);
      return attempt === 2;
    });
    await liveness(agent, 'unreachable');
    await waitUntil(() => healsOf(agent).length >= 2, 15_000, 'the second heal');
    await waitUntil(
      async () =>
        ((await (await fetch(`http://127.0.0.1:${notifier.port}/agents/${agent}/heals`)).json()) as { phase: string })
          .phase === 'closed',
      15_000,
      'the incident to close',
    );
    await sleep(4000); // past verifyMs: a heal that did not hold would have turned into a third attempt
    assert.equal(healsOf(agent).length, 2);
    assert.deepEqual(alertsOf(agent), []);
  });

  it('fires one alert for a cause reported a hundred times, duplicates included, and resolves it once', async () => {
    const agent = `nt${run}-repeat`;
    for (let i = 0; i < 100; i++) await liveness(agent, 'degraded');
    // The same event twice (heartbeat republishing its outbox after a crash).
    const at = since.get(agent)!;
    const dup: AgentLivenessChanged = {
      agentId: agent,
      from: 'healthy',
      to: 'degraded',
      since: at,
      lastHeartbeatAt: at - 3000,
      reason: 'dup',
      host: null,
      eventId: `${agent}/healthy>degraded@${at}`,
    };
    await producer.send(Topics.liveness, [{ value: dup }, { value: dup }]);
    await waitUntil(() => alertsOf(agent).length >= 1, 15_000, 'the alert');
    await sleep(1500);
    assert.equal(alertsOf(agent).length, 1);
    assert.equal(alertsOf(agent)[0]!.severity, 'warning');
    assert.deepEqual(healsOf(agent), [], 'no heal applies to degraded in this policy');
    await liveness(agent, 'healthy', 'degraded');
    await waitUntil(() => alertsOf(agent).length >= 2, 15_000, 'the resolved alert');
    await sleep(1000);
    assert.deepEqual(
      alertsOf(agent).map((a) => a.status),
      ['firing', 'resolved'],
    );
  });

  it('raises one alert while the newest version of an entity matches a state rule, and resolves it once when a later one does not', async () => {
    const entityId = `nt${run}-svc`;
    const agent = `nt${run}-state-agent`;
    // What state-sync writes to the changelog: each accepted version once, in order per entity.
    const traceId = randomUUID().replace(/-/g, '');
    const version = (v: number, status: string, eventType: StateChangeEvent['eventType'] = 'updated') =>
      producer.send(Topics.stateChangelog, [
        {
          // As state-sync publishes it: in the trace that began with the agent's publish.
          headers: { traceparent: `00-${traceId}-${randomUUID().replace(/-/g, '').slice(0, 16)}-01` },
          value: {
            eventId: randomUUID(),
            entityId,
            entityType: 'service',
            agentId: agent,
            eventType,
            version: v,
            timestamp: Date.now(),
            payload: JSON.stringify({ status, pid: 100 + v }),
            checksum: null,
          },
        },
      ]);
    await version(1, 'running', 'created');
    await version(2, 'failed');
    await waitUntil(() => alertsOf(agent).length >= 1, 15_000, 'the state rule alert');
    await version(3, 'failed'); // still failed: no second alert
    await sleep(1000);
    assert.equal(alertsOf(agent).length, 1);
    assert.equal(alertsOf(agent)[0]!.alertName, 'ServiceFailed');
    assert.equal(alertsOf(agent)[0]!.labels.entity, entityId);
    const alertRecord = alerts.seen.find((a) => a.value.agentId === agent)!;
    assert.equal(
      alertRecord.headers.traceparent?.split('-')[1],
      traceId,
      'the alert continues the trace of the change that fired it',
    );
    await version(4, 'running');
    await waitUntil(() => alertsOf(agent).length >= 2, 15_000, 'the resolution');
    // Failed again, then deleted: state-sync writes a deletion as a tombstone (no body; the version in
    // a header), which resolves the alert and is no dead letter.
    await version(5, 'failed');
    await waitUntil(() => alertsOf(agent).length >= 3, 15_000, 'the second alert');
    const deadLettersBefore = await metricSum(notifier.port, 'vigil_consumer_dead_letters_total');
    await producer.send(Topics.stateChangelog, [
      {
        key: entityId,
        value: { entityId } as StateChangeEvent,
        tombstone: true,
        headers: { [RecordHeaderNames.version]: '6', [RecordHeaderNames.agentId]: agent },
      },
    ]);
    await waitUntil(() => alertsOf(agent).length >= 4, 15_000, 'the resolution by deletion');
    await sleep(1000);
    assert.deepEqual(
      alertsOf(agent).map((a) => a.status),
      ['firing', 'resolved', 'firing', 'resolved'],
    );
    assert.equal(await metricSum(notifier.port, 'vigil_consumer_dead_letters_total'), deadLettersBefore);
  });

  it('continues a heal sequence across a SIGKILL between attempts: each attempt once, one alert', async () => {
    const agent = `nt${run}-killed`;
    // Attempt 2 gets no answer: it times out (2 s) while the notifier is dead, so the timeout, the
    // backoff and attempt 3 are all up to the restarted process and the timers it finds in Redis.
    answers.set(agent, (attempt) => (attempt === 2 ? 'silent' : false));
    await liveness(agent, 'unreachable');
    await waitUntil(() => healsOf(agent).length >= 2, 15_000, 'the second heal');
    notifier.child.kill('SIGKILL');
    await notifier.exited;
    await sleep(2500);
    notifier = await startNotifier(group, notifierEnv);
    await waitUntil(() => alertsOf(agent).length >= 1, 30_000, 'the alert after the restart');
    await sleep(1500);
    const byAttempt = new Map<number, Set<string>>();
    for (const h of healsOf(agent)) byAttempt.set(h.attempt, (byAttempt.get(h.attempt) ?? new Set()).add(h.commandId));
    assert.deepEqual([...byAttempt.keys()], [1, 2, 3]);
    for (const ids of byAttempt.values()) assert.equal(ids.size, 1, 'a republished command keeps its id');
    assert.equal(alertsOf(agent).length, 1);
  });

  it('dead-letters a malformed liveness record with its reason and goes on with the valid ones behind it', async () => {
    const garbageKey = `nt${run}-garbage`;
    const dlq = await watchTopic(
      kafka,
      codec,
      Topics.liveness.dlq!,
      (d) => d.consumerGroup === group && d.key?.toString() === garbageKey,
    );
    extra.push(() => dlq.stop());
    await producer.sendRaw(Topics.liveness.name, [{ key: garbageKey, value: Buffer.from('not avro at all') }]);
    const agent = `nt${run}-after-garbage`;
    answers.set(agent, () => true);
    await liveness(agent, 'unreachable');
    await waitUntil(() => healsOf(agent).length >= 1, 15_000, 'the heal behind the malformed record');
    await waitUntil(() => dlq.seen.length >= 1, 15_000, 'the dead letter');
    assert.ok(dlq.seen[0]!.value.error.length > 0, 'the dead letter says why');
    assert.ok((await metricSum(notifier.port, 'vigil_consumer_dead_letters_total')) >= 1);
  });

  it('refuses to start on a bad policy file, naming the file, the field and the reason', async () => {
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'heal:\n  maxAttempts: -1\n');
    const proc = startService('notifier', {
      ...process.env,
      HTTP_PORT: String(await freePort()),
      CONSUMER_GROUP: `notifier-bad-${run}`,
      NOTIFIER_POLICY_FILE: bad,
    });
    extra.push(() => stopProcess(proc.child));
    const { code } = await proc.exited;
    assert.equal(code, 1);
    assert.match(
      proc.output(),
      new RegExp(`policy file ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: field heal\\.maxAttempts: `),
    );
  });

  it('two instances share the shards; one SIGKILLed mid-sequence, the other continues every sequence: each attempt once, one alert each', async () => {
    // This group alone acts on these agents: the suite's main notifier stops for good here.
    await stopProcess(notifier.child);
    const pair = `notifier-pair-${run}`;
    const first = await startNotifier(pair, notifierEnv, { ownAll: false });
    const second = await startNotifier(pair, notifierEnv, { ownAll: false });
    extra.push(() => stopProcess(second.child));
    await waitUntil(
      async () =>
        (await metricSum(first.port, 'vigil_notifier_shards_owned')) > 0 &&
        (await metricSum(second.port, 'vigil_notifier_shards_owned')) > 0 &&
        (await metricSum(first.port, 'vigil_notifier_shards_owned')) +
          (await metricSum(second.port, 'vigil_notifier_shards_owned')) ===
          Topics.liveness.partitions,
      60_000,
      'both instances to own shards',
    );
    const agents = Array.from({ length: 12 }, (_, n) => `nt${run}-pair-${n}`);
    for (const a of agents) answers.set(a, (attempt) => (attempt === 2 ? 'silent' : false));
    for (const a of agents) await liveness(a, 'unreachable');
    await waitUntil(() => agents.every((a) => healsOf(a).length >= 1), 15_000, 'a first heal for each');
    first.child.kill('SIGKILL');
    await first.exited;
    await waitUntil(() => agents.every((a) => alertsOf(a).length >= 1), 90_000, 'an alert for each after the takeover');
    await sleep(2000);
    for (const a of agents) {
      const byAttempt = new Map<number, Set<string>>();
      for (const h of healsOf(a)) byAttempt.set(h.attempt, (byAttempt.get(h.attempt) ?? new Set()).add(h.commandId));
      assert.deepEqual([...byAttempt.keys()], [1, 2, 3], a);
      for (const ids of byAttempt.values()) assert.equal(ids.size, 1, `${a}: one command per attempt`);
      assert.equal(alertsOf(a).length, 1, `${a}: one alert`);
    }
    notifier = second;
  });
});

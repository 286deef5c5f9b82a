#!/usr/bin/env node
// A host failure as the notifier sees it: N registered agents on hosts of H, the agents of D hosts
// unreachable in the same instant. How many notifications reach a webhook receiver (the target is
// one per host group), how long after the failure, and what the notifier spends. Side by side in the
// same run: the very alerts the notifier produced, pushed as they appear into a real Alertmanager
// configured with the same grouping and inhibit rule, and its notifications counted and timed.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Topics, type AgentLivenessChanged, type AgentRegistration, type AlertEvent } from '@vigil/events';
import { ensureTopics } from '@vigil/kafka';
import {
  errorsToStderr,
  freePort,
  metricSum,
  startAlertmanager,
  startNotifier,
  stopProcess,
  summarize,
  waitUntil,
  watchTopic,
  WebhookReceiver,
  type WebhookBody,
} from '@vigil/test-kit';
import { benchClients } from './bench-clients';
import { cpuOf, rssOf } from './process-stats';
import { writeReport } from './report';

const HELP = `alert-storm: the agents of D hosts die at once among N registered agents; notifications sent
(target: one per host) and the time from the failure to each host's notification, for Vigil's notifier
and, side by side, a real Alertmanager fed the same alerts with the same grouping.

Usage: node bench/dist/alert-storm.js [--agents N] [--per-host H] [--dead-hosts D] [--group-wait MS]
  --agents N       registered agents (default 10000)
  --per-host H     agents per host (default 50)
  --dead-hosts D   hosts whose agents all become unreachable in the same instant (default 10)
  --group-wait MS  group_wait of both (default 5000); group_interval 5m, repeat 4h, group_by [host]
Env: KAFKA_BROKERS, SCHEMA_REGISTRY_URL, REDIS_URL; Debian's prometheus-alertmanager (installed by
infra/alertmanager.sh when missing). Writes bench/results/alert-storm.json. Heals are off (each
unreachable agent is alerted at once): bench/notifier-outage measures the heal schedule.`;

interface Arrival {
  at: number;
  body: WebhookBody;
}

async function main() {
  const { values } = parseArgs({
    options: {
      agents: { type: 'string', default: '10000' },
      'per-host': { type: 'string', default: '50' },
      'dead-hosts': { type: 'string', default: '10' },
      'group-wait': { type: 'string', default: '5000' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const agents = Number(values.agents);
  const perHost = Number(values['per-host']);
  const deadHosts = Number(values['dead-hosts']);
  const groupWaitMs = Number(values['group-wait']);
  const run = randomUUID().slice(0, 8);
  const { kafka, codec, producer } = benchClients('bench-alert-storm');
  await ensureTopics(kafka, undefined, errorsToStderr);
  await producer.connect();

  const vigilReceiver = new WebhookReceiver(await freePort());
  const amReceiver = new WebhookReceiver(await freePort());
  await Promise.all([vigilReceiver.up(), amReceiver.up()]);
  const alertmanager = await startAlertmanager(`route:
  receiver: bench
  group_by: [host]
  group_wait: ${groupWaitMs}ms
  group_interval: 5m
  repeat_interval: 4h
inhibit_rules:
  - source_matchers: ['alertname="HostDown"']
    target_matchers: ['alertname=~"AgentUnreachable|AgentDegraded"']
    equal: [host]
receivers:
  - name: bench
    webhook_configs:
      - url: ${amReceiver.url}
        send_resolved: true
`);
  const dir = mkdtempSync(path.join(tmpdir(), 'vigil-bench-'));
  const policy = path.join(dir, 'policy.yaml');
  writeFileSync(
    policy,
    `heal:
  actions: { unreachable: null, degraded: null }
receivers:
  - { name: bench, url: "${vigilReceiver.url}" }
route: { group_by: [host], group_wait: ${groupWaitMs}ms, group_interval: 5m, repeat_interval: 4h }
`,
  );
  const notifier = await startNotifier(`bench-storm-${run}`, { NOTIFIER_POLICY_FILE: policy, LOG_LEVEL: 'warn' });
  const pid = notifier.child.pid!;

  // The alerts the notifier publishes, pushed into Alertmanager as they appear (as Prometheus would).
  const pushed: number[] = [];
  const alerts = await watchTopic(
    kafka,
    codec,
    Topics.alerts,
    (a) => (a.labels.host ?? '').startsWith(`bs${run}`),
    async (a: AlertEvent) => {
      const res = await fetch(`${alertmanager.url}/api/v2/alerts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify([
          {
            labels: a.labels,
            annotations: { summary: a.summary },
            startsAt: new Date(a.startsAt).toISOString(),
            ...(a.endsAt ? { endsAt: new Date(a.endsAt).toISOString() } : {}),
          },
        ]),
      });
      if (!res.ok) throw new Error(`alertmanager refused an alert: HTTP ${res.status}`);
      pushed.push(Date.now());
    },
  );

  const hostOf = (i: number) => `bs${run}-host-${Math.floor(i / perHost)}`;
  const ids = Array.from({ length: agents }, (_, i) => `bs${run}-${i}`);
  console.error(`registering ${agents} agents on ${Math.ceil(agents / perHost)} hosts`);
  const now = Date.now();
  for (let i = 0; i < ids.length; i += 1000) {
    await producer.send(
      Topics.agentRegistry,
      ids.slice(i, i + 1000).map((agentId, j) => ({
        key: agentId,
        value: {
          agentId,
          host: hostOf(i + j),
          agentVersion: '1.0.0',
          priorityTier: 1,
          dependencies: [],
          labels: {},
          intervalMs: 1000,
          missThreshold: 3,
          startPeriodMs: 0,
          bootId: 'b',
          registeredAt: now,
          changedAt: now,
        } satisfies AgentRegistration,
      })),
    );
  }
  await waitUntil(
    async () => (await metricSum(notifier.port, 'vigil_consumer_records_processed_total')) >= agents,
    180_000,
    'the notifier to read every registration',
  );

  const victims = ids.slice(0, deadHosts * perHost);
  const dead = new Set(victims.map((_, i) => hostOf(i)));
  const cpu0 = cpuOf(pid);
  let rssPeak = 0;
  const rssTimer = setInterval(() => (rssPeak = Math.max(rssPeak, rssOf(pid))), 200);
  console.error(`${victims.length} agents on ${dead.size} hosts unreachable at once; group_wait ${groupWaitMs} ms`);
  const since = Date.now();
  await producer.send(
    Topics.liveness,
    victims.map((agentId, i) => ({
      value: {
        agentId,
        from: 'healthy',
        to: 'unreachable',
        since,
        lastHeartbeatAt: since - 3000,
        reason: 'bench',
        host: hostOf(i),
        eventId: `${agentId}/healthy>unreachable@${since}`,
      } satisfies AgentLivenessChanged,
    })),
  );
  const hostsNotified = (r: WebhookReceiver) => new Set(r.got.map((g) => g.body.groupLabels.host)).size;
  await waitUntil(
    () => {
      process.stderr.write(
        `\r  hosts notified: vigil ${hostsNotified(vigilReceiver)}/${dead.size}, alertmanager ${hostsNotified(amReceiver)}/${dead.size}   `,
      );
      return hostsNotified(vigilReceiver) === dead.size && hostsNotified(amReceiver) === dead.size;
    },
    300_000,
    'every host notified by both',
  );
  const seconds = (Date.now() - since) / 1000;
  const cpuCores = (cpuOf(pid) - cpu0) / seconds;
  // Anything more (a second notification per group) would come within another group_wait.
  await new Promise((r) => setTimeout(r, groupWaitMs + 3000));
  process.stderr.write('\n');
  clearInterval(rssTimer);

  const report = (got: Arrival[], from: number) => {
    const firstPerHost = new Map<string, number>();
    for (const g of got) {
      const h = g.body.groupLabels.host!;
      if (!firstPerHost.has(h)) firstPerHost.set(h, g.at - from);
    }
    const carried = got.flatMap((g) => g.body.alerts.map((a) => a.labels.alertname));
    return {
      notifications: got.length,
      hostGroups: firstPerHost.size,
      alertsCarried: carried.length,
      hostDownCarried: carried.filter((n) => n === 'HostDown').length,
      failureToNotificationMs: summarize([...firstPerHost.values()]),
    };
  };
  const figures = {
    agents,
    perHost,
    deadHosts,
    deadAgents: victims.length,
    groupWaitMs,
    alertsPublished: alerts.seen.length,
    // How long the notifier took to decide the alerts: both groupings start from them.
    failureToFirstAlertMs: (alerts.seen[0]?.receivedAt ?? NaN) - since,
    failureToLastAlertMs: (alerts.seen.at(-1)?.receivedAt ?? NaN) - since,
    failureToFirstHostDownMs: (alerts.seen.find((a) => a.value.alertName === 'HostDown')?.receivedAt ?? NaN) - since,
    vigil: {
      ...report(vigilReceiver.got, since),
      notifierRssPeakMB: Math.round(rssPeak / 1e6),
      notifierCpuCores: Math.round(cpuCores * 100) / 100,
    },
    alertmanager: {
      ...report(amReceiver.got, since),
      // Its clock starts when it had the first alert, not at the failure.
      firstPushToNotificationMs: summarize(
        [...new Set(amReceiver.got.map((g) => g.body.groupLabels.host))].map(
          (h) => amReceiver.got.find((g) => g.body.groupLabels.host === h)!.at - (pushed[0] ?? since),
        ),
      ),
    },
  };
  await stopProcess(notifier.child);
  await alerts.stop();
  await alertmanager.stop();
  await Promise.all([vigilReceiver.down(), amReceiver.down()]);
  await producer.disconnect();
  writeReport('alert-storm', figures);
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`alert-storm failed: ${e.message}`);
    process.exit(1);
  },
);

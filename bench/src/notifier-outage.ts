#!/usr/bin/env node
// The notifier as a real process when many agents die at once: N agents known to it (healthy), K of
// them unreachable in the same instant; every heal fails fast (nobody answers, short timeout), so
// each victim gets its heals and then one alert, delivered to a real local webhook receiver.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Topics, type AgentLivenessChanged } from '@vigil/events';
import { ensureTopics } from '@vigil/kafka';
import {
  errorsToStderr,
  freePort,
  metricSum,
  startNotifier,
  stopProcess,
  summarize,
  waitUntil,
  WebhookReceiver,
} from '@vigil/test-kit';
import { benchClients } from './bench-clients';
import { cpuOf, rssOf } from './process-stats';
import { writeReport } from './report';

const HELP = `notifier-outage: K of N agents unreachable at once; time from the unreachable event to the alert
at a webhook receiver, with heals that fail fast.

Usage: node bench/dist/notifier-outage.js [--agents N] [--dead K] [--heal-timeout-ms T]
  --agents N           agents the notifier has seen (default 10000)
  --dead K             agents unreachable in the same instant (default 500)
  --heal-timeout-ms T  each heal's timeout; nobody answers, so each of the 3 attempts takes T, with
                       backoff 100 ms then 200 ms between them (default 500)
Env: KAFKA_BROKERS, SCHEMA_REGISTRY_URL, REDIS_URL. Writes bench/results/notifier-outage.json.
The liveness events are published by this bench (as heartbeat would), not by a fleet: it measures
the notifier alone. Latency = receiver's arrival time - the event's since (one host clock).`;

async function main() {
  const { values } = parseArgs({
    options: {
      agents: { type: 'string', default: '10000' },
      dead: { type: 'string', default: '500' },
      'heal-timeout-ms': { type: 'string', default: '500' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const agents = Number(values.agents);
  const dead = Number(values.dead);
  const healTimeoutMs = Number(values['heal-timeout-ms']);
  const { kafka, producer } = benchClients('bench-notifier');
  await ensureTopics(kafka, undefined, errorsToStderr);
  const run = randomUUID().slice(0, 6);
  const receiver = new WebhookReceiver(await freePort());
  await receiver.up();
  const policy = path.join(mkdtempSync(path.join(tmpdir(), 'vigil-bench-notifier-')), 'policy.yaml');
  writeFileSync(
    policy,
    `heal:
  maxAttempts: 3
  timeoutMs: ${healTimeoutMs}
  backoff: { initialMs: 100, factor: 2, jitter: 0 }
receivers:
  - { name: bench, url: "${receiver.url}" }
route: { group_by: ['...'], group_wait: 0s, group_interval: 500ms }
delivery:
  backoff: { initialMs: 100, maxMs: 1000 }
`,
  );
  const notifier = await startNotifier(`bench-notifier-${run}`, { NOTIFIER_POLICY_FILE: policy, LOG_LEVEL: 'warn' });
  const pid = notifier.child.pid!;

  const ids = Array.from({ length: agents }, (_, i) => `bn${run}-${i}`);
  const event = (
    agentId: string,
    from: AgentLivenessChanged['from'],
    to: AgentLivenessChanged['to'],
    since: number,
  ) => ({
    value: {
      agentId,
      from,
      to,
      since,
      lastHeartbeatAt: since - 3000,
      reason: 'bench',
      host: `bench-host-${agentId.length % 100}`,
      eventId: `${agentId}/${from}>${to}@${since}`,
    } satisfies AgentLivenessChanged,
  });
  console.error(`registering ${agents} agents (healthy events)`);
  const registeredAt = Date.now();
  for (let i = 0; i < ids.length; i += 1000) {
    await producer.send(
      Topics.liveness,
      ids.slice(i, i + 1000).map((a) => event(a, 'unknown', 'healthy', registeredAt)),
    );
  }
  await waitUntil(
    async () => (await metricSum(notifier.port, 'vigil_consumer_records_processed_total')) >= agents,
    120_000,
    'the notifier to read every registration',
  );

  const victims = ids.slice(0, dead);
  const cpu0 = cpuOf(pid);
  let rssPeak = 0;
  const rssTimer = setInterval(() => (rssPeak = Math.max(rssPeak, rssOf(pid))), 200);
  console.error(`${dead} agents unreachable at once; heals time out after ${healTimeoutMs} ms`);
  const since = Date.now();
  await producer.send(
    Topics.liveness,
    victims.map((a) => event(a, 'healthy', 'unreachable', since)),
  );
  const t0 = Date.now();
  await waitUntil(
    () => {
      const n = victims.filter((a) => receiver.distinct(a).length > 0).length;
      process.stderr.write(`\r  alerts at the receiver: ${n}/${dead}   `);
      return n === dead;
    },
    300_000,
    'every victim alerted',
  );
  process.stderr.write('\n');
  const seconds = (Date.now() - t0) / 1000;
  const cpuCores = (cpuOf(pid) - cpu0) / seconds;
  clearInterval(rssTimer);
  const toAlert = victims.map((a) => receiver.distinct(a)[0]!.at - since);
  // Split in two: until the notifier fired the alert (its startsAt), then until the receiver had it.
  const firedAt = (a: string) => Date.parse(receiver.distinct(a)[0]!.body.alerts[0]!.startsAt);
  const toFired = victims.map((a) => firedAt(a) - since);
  const firedToReceiver = victims.map((a) => receiver.distinct(a)[0]!.at - firedAt(a));
  // The heal schedule alone: 3 timeouts and the backoffs between them.
  const healScheduleMs = 3 * healTimeoutMs + 100 + 200;
  const figures = {
    agents,
    dead,
    healTimeoutMs,
    healScheduleMs,
    unreachableToNotificationMs: summarize(toAlert),
    beyondHealScheduleMs: summarize(toAlert.map((t) => t - healScheduleMs)),
    unreachableToAlertFiredMs: summarize(toFired),
    alertFiredToReceiverMs: summarize(firedToReceiver),
    notificationsSent: await metricSum(
      notifier.port,
      'vigil_notifier_notifications_total{receiver="bench",outcome="sent"',
    ),
    healsIssued: await metricSum(notifier.port, 'vigil_notifier_heals_total{action="restart",outcome="issued"'),
    notifierRssPeakMB: Math.round(rssPeak / 1e6),
    notifierCpuCores: Math.round(cpuCores * 100) / 100,
  };
  await stopProcess(notifier.child);
  await receiver.down();
  await producer.disconnect();
  writeReport('notifier-outage', figures);
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`notifier-outage failed: ${e.message}`);
    process.exit(1);
  },
);

// One trace from an agent going silent to the webhook that tells a person, in a real Zipkin: the
// heartbeat service and the notifier are real processes exporting with OTEL_TRACES_EXPORTER=zipkin;
// this process is the agent's host (it beats, and its supervisor answers heal commands with a
// failure). The host samples its own traces at 0%, as a large fleet would sample heartbeats down:
// the trace an unreachable agent starts must be kept all the same.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AgentConnection, AgentPublisher, AgentSupervisor } from '@vigil/agent-sdk';
import { Topics, type Heartbeat } from '@vigil/events';
import { silentLogger } from '@vigil/kafka';
import { startTracing } from '@vigil/platform';
import {
  connectToInfra,
  freePort,
  infraEnv,
  startHeartbeat,
  startNotifier,
  stopProcess,
  waitUntil,
  watchTopic,
  WebhookReceiver,
  type RunningHeartbeat,
  type RunningNotifier,
  type TopicWatch,
  zipkinTrace,
  showSpan,
  ancestry,
  ZIPKIN_TRACING_ENV,
  type ZipkinSpan,
} from '@vigil/test-kit';

const zipkinUrl = process.env.ZIPKIN_URL;
const run = randomUUID().slice(0, 8);
const work = mkdtempSync(path.join(tmpdir(), 'vigil-trace-heal-'));
const agentId = `th${run}-agent`;
const host = `th${run}-host`;
const tracingEnv = ZIPKIN_TRACING_ENV;

describe(
  'one trace from an agent gone silent to the webhook: liveness -> heal -> heal result -> alert -> POST',
  { timeout: 240_000 },
  () => {
    const { kafka, codec, close } = connectToInfra('trace-heal-test');
    let receiver: WebhookReceiver;
    let heartbeat: RunningHeartbeat;
    let notifier: RunningNotifier;
    let beats: TopicWatch<Heartbeat>;
    let connection: AgentConnection;
    let agent: AgentPublisher;
    let supervisor: AgentSupervisor;
    let tracing: { shutdown: () => Promise<void> };

    before(async () => {
      assert.ok(zipkinUrl, 'ZIPKIN_URL is not set: bring Zipkin up with infra/up.sh (or infra/zipkin.sh up)');
      // The host keeps none of its own traces (heartbeats sampled down to nothing); parent-based, so
      // it still records the spans of commands that arrive in a sampled trace.
      Object.assign(process.env, tracingEnv, {
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0',
      });
      tracing = startTracing({ serviceName: 'vigil-agent' });
      receiver = new WebhookReceiver(await freePort());
      await receiver.up();
      const policy = path.join(work, 'policy.yaml');
      writeFileSync(
        policy,
        `heal:
  maxAttempts: 1
  timeoutMs: 20000
receivers:
  - { name: ops, url: "${receiver.url}" }
route: { group_by: ['...'], group_wait: 0s, group_interval: 500ms }
`,
      );
      const services = { ...tracingEnv, OTEL_TRACES_SAMPLER: 'parentbased_always_on', LOG_LEVEL: 'warn' };
      heartbeat = await startHeartbeat(`th-heartbeat-${run}`, services, { ownAllPartitions: true });
      notifier = await startNotifier(`th-notifier-${run}`, {
        ...services,
        NOTIFIER_POLICY_FILE: policy,
        SWEEP_INTERVAL_MS: '100',
      });
      beats = await watchTopic(kafka, codec, Topics.heartbeats, (h) => h.agentId === agentId);

      const env = infraEnv();
      connection = new AgentConnection({ brokers: env.brokers, registryUrl: env.registryUrl });
      supervisor = new AgentSupervisor({ connection, hostId: host, logger: silentLogger });
      supervisor.register(agentId, {
        heal: () => ({ success: false, error: 'the restart failed: exit status 1' }),
      });
      await supervisor.start();
      agent = AgentPublisher.open({
        agentId,
        host,
        connection,
        dataDir: path.join(work, 'agent'),
        heartbeat: { intervalMs: 1000, missThreshold: 3 },
        logger: silentLogger,
      });
      agent.startHeartbeats();
    });

    after(async () => {
      await agent?.close(2000);
      await supervisor?.stop();
      await connection?.close();
      await Promise.all([heartbeat && stopProcess(heartbeat.child), notifier && stopProcess(notifier.child)]);
      await beats?.stop();
      await receiver?.down();
      await close();
      await tracing?.shutdown();
      rmSync(work, { recursive: true, force: true });
    });

    it('starts a kept trace at the unreachable transition, linked to the last heartbeat, and parents every hop on the one before', async () => {
      await waitUntil(() => beats.seen.length >= 4, 30_000, 'four heartbeats of the agent');
      agent.stopHeartbeats(); // silence, not a clean shutdown: the agent is declared unreachable
      await waitUntil(() => receiver.of(agentId).length > 0, 60_000, 'the alert at the webhook receiver');
      const lastBeat = beats.seen.at(-1)!.headers.traceparent!;
      assert.match(
        lastBeat,
        /^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/,
        'the heartbeats went out in a trace the host did not sample',
      );

      const notification = receiver.of(agentId)[0]!;
      const traceId = notification.traceparent?.split('-')[1];
      assert.match(traceId ?? '', /^[0-9a-f]{32}$/, 'the webhook request carries the trace');

      let spans: ZipkinSpan[] = [];
      const post = () => spans.find((s) => s.localEndpoint?.serviceName === 'notifier' && s.name === 'post');
      await waitUntil(
        async () => {
          spans = await zipkinTrace(traceId!);
          // Every process exports on its own schedule: wait until the chain reaches its root.
          const last = post();
          return last !== undefined && ancestry(spans, last)[0]!.name === 'liveness unreachable';
        },
        30_000,
        'the webhook span in Zipkin',
      ).catch((e: Error) => {
        throw new Error(`${e.message}; trace ${traceId} holds: ${spans.map(showSpan).join(', ') || 'nothing'}`);
      });
      console.log(`trace ${traceId}: ${spans.map(showSpan).join(', ')} (${zipkinUrl}/zipkin/traces/${traceId})`);

      const chain = ancestry(spans, post()!);
      assert.deepEqual(chain.map(showSpan), [
        'heartbeat: liveness unreachable (INTERNAL)',
        'heartbeat: vigil.agent.liveness publish (PRODUCER)',
        'notifier: vigil.agent.liveness process (CONSUMER)',
        'notifier: vigil.heal.commands publish (PRODUCER)',
        'vigil-agent: vigil.heal.commands process (CONSUMER)',
        'vigil-agent: vigil.heal.results publish (PRODUCER)',
        'notifier: vigil.heal.results process (CONSUMER)',
        'notifier: vigil.alerts publish (PRODUCER)',
        'notifier: vigil.alerts process (CONSUMER)',
        'notifier: post (CLIENT)',
      ]);
      const [root, livenessPublish, , , healConsume, resultPublish] = chain;
      // Caused by silence: a new trace, whose root names the last heartbeat's trace (Zipkin shows no links).
      assert.equal(root!.parentId, undefined);
      assert.equal(root!.tags?.['vigil.agent.id'], agentId);
      assert.equal(root!.tags?.['vigil.liveness.to'], 'unreachable');
      assert.equal(root!.tags?.['vigil.cause.trace_id'], lastBeat.split('-')[1]);
      assert.notEqual(traceId, lastBeat.split('-')[1]);
      assert.equal(livenessPublish!.tags?.['messaging.kafka.message.key'], agentId);
      assert.equal(healConsume!.tags?.['messaging.consumer.group.name'], `vigil-supervisor-${host}`);
      assert.equal(healConsume!.tags?.['vigil.agent.id'], agentId);
      assert.equal(resultPublish!.tags?.['vigil.agent.id'], agentId);
      const postSpan = chain.at(-1)!;
      assert.equal(postSpan.tags?.['http.request.method'], 'POST');
      assert.equal(postSpan.tags?.['http.response.status_code'], '200');
      assert.equal(postSpan.tags?.['url.full'], receiver.url);
      assert.equal(postSpan.tags?.['vigil.receiver'], 'ops');

      // The heartbeats themselves were sampled down: the last one's trace is not in Zipkin.
      assert.deepEqual(await zipkinTrace(lastBeat.split('-')[1]!), []);
    });
  },
);

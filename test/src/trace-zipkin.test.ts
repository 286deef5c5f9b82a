// One trace from an agent's publish to the backup orchestrator, in a real Zipkin: this process is
// the agent's host (it starts an OpenTelemetry SDK, as a host does; the SDK itself only uses the
// API), state-sync and the orchestrator are real processes exporting with OTEL_TRACES_EXPORTER=zipkin,
// and the trace is read back from Zipkin's HTTP API by the id the changelog record carries.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AgentPublisher } from '@vigil/agent-sdk';
import { Topics, type StateChangeEvent } from '@vigil/events';
import { silentLogger } from '@vigil/kafka';
import { startTracing } from '@vigil/platform';
import {
  connectToInfra,
  freePort,
  infraEnv,
  startOrchestrator,
  startService,
  stopProcess,
  waitServiceReady,
  waitUntil,
  watchTopic,
  type RunningOrchestrator,
  type ServiceProcess,
  type TopicWatch,
  zipkinTrace,
  showSpan,
  ancestry,
  ZIPKIN_TRACING_ENV,
  type ZipkinSpan,
} from '@vigil/test-kit';
import { waitCaughtUp } from './state-sync-harness';

const zipkinUrl = process.env.ZIPKIN_URL;
const run = randomUUID().slice(0, 8);
const work = mkdtempSync(path.join(tmpdir(), 'vigil-trace-'));
const entityId = `tz${run}-e1`;
const agentId = `tz${run}-agent`;
const tracingEnv = ZIPKIN_TRACING_ENV;

describe(
  'one trace from the agent publish through state-sync to the backup orchestrator, in Zipkin',
  { timeout: 180_000 },
  () => {
    const { kafka, codec, close } = connectToInfra('trace-test');
    let stateSync: ServiceProcess;
    let stateSyncPort: number;
    let orchestrator: RunningOrchestrator;
    let changelog: TopicWatch<StateChangeEvent>;
    let agent: AgentPublisher;
    let tracing: { shutdown: () => Promise<void> };

    before(async () => {
      assert.ok(zipkinUrl, 'ZIPKIN_URL is not set: bring Zipkin up with infra/up.sh (or infra/zipkin.sh up)');
      Object.assign(process.env, tracingEnv);
      tracing = startTracing({ serviceName: 'vigil-agent' });
      stateSyncPort = await freePort();
      stateSync = startService('state-sync', {
        ...process.env,
        ...tracingEnv,
        HTTP_PORT: String(stateSyncPort),
        LOG_LEVEL: 'warn',
      });
      await waitServiceReady(stateSync, stateSyncPort, 60_000, 'state-sync');
      orchestrator = await startOrchestrator(`trace-test-${run}`, tracingEnv);
      changelog = await watchTopic(kafka, codec, Topics.stateChangelog, (v) => v.entityId.startsWith(entityId));
      const env = infraEnv();
      agent = AgentPublisher.open({
        agentId,
        dataDir: path.join(work, 'agent'),
        brokers: env.brokers,
        registryUrl: env.registryUrl,
        logger: silentLogger,
      });
    });

    after(async () => {
      await agent?.close(5000);
      await Promise.all([stopProcess(stateSync.child), stopProcess(orchestrator.child)]);
      await changelog.stop();
      await close();
      await tracing.shutdown();
      rmSync(work, { recursive: true, force: true });
    });

    it('parents each hop on the one before: agent publish -> state-sync process (-> Redis apply) -> changelog publish -> orchestrator process', async () => {
      // state-sync's group drains what earlier runs left first, so the record is alone in its batch and
      // the batch's Redis apply is a child of its span (a batch span's parent is its first record's).
      await waitCaughtUp(kafka, 180_000, stateSync);
      const receipt = await agent.publishStateChange({ id: entityId, type: 'service' }, 'created', { replicas: 3 });
      assert.ok(receipt.accepted);
      await waitUntil(() => changelog.seen.length > 0, 60_000, 'the change on the changelog');
      const traceId = changelog.seen[0]!.headers.traceparent?.split('-')[1];
      assert.match(traceId ?? '', /^[0-9a-f]{32}$/, 'the changelog record carries the trace');

      let spans: ZipkinSpan[] = [];
      const inOrchestrator = () =>
        spans.find(
          (s) => s.localEndpoint?.serviceName === 'backup-orchestrator' && s.name === 'vigil.state.changelog process',
        );
      await waitUntil(
        async () => {
          spans = await zipkinTrace(traceId!);
          // Every process exports on its own schedule: wait for the whole chain and the Redis apply.
          const last = inOrchestrator();
          if (!last) return false;
          const chain = ancestry(spans, last);
          return chain.length === 5 && !chain[0]!.parentId && spans.some((s) => s.name === 'vigil.state apply');
        },
        30_000,
        'the orchestrator span in Zipkin',
      ).catch((e: Error) => {
        const held = spans.map(showSpan).join(', ') || 'nothing';
        throw new Error(`${e.message}; trace ${traceId} holds: ${held}`);
      });
      console.log(`trace ${traceId}: ${spans.map(showSpan).join(', ')} (${zipkinUrl}/zipkin/traces/${traceId})`);

      // From the orchestrator's span up to the root, each span's parent is the hop before it.
      const chain = ancestry(spans, inOrchestrator()!);
      assert.deepEqual(chain.map(showSpan), [
        'vigil-agent: agent publishstatechange (PRODUCER)',
        'vigil-agent: vigil.agent.state-changes publish (PRODUCER)',
        'state-sync: vigil.agent.state-changes process (CONSUMER)',
        'state-sync: vigil.state.changelog publish (PRODUCER)',
        'backup-orchestrator: vigil.state.changelog process (CONSUMER)',
      ]);
      const [root, agentPublish, consume, republish, orchestratorConsume] = chain;
      assert.equal(root!.parentId, undefined, 'the agent publish starts the trace');
      assert.equal(root!.tags?.['vigil.agent.id'], agentId);
      assert.equal(root!.tags?.['vigil.entity.id'], entityId);
      for (const s of [agentPublish!, republish!]) {
        assert.equal(s.tags?.['messaging.system'], 'kafka');
        assert.equal(s.tags?.['messaging.kafka.message.key'], entityId);
      }
      assert.equal(consume!.tags?.['messaging.destination.name'], 'vigil.agent.state-changes');
      assert.equal(consume!.tags?.['messaging.consumer.group.name'], 'state-sync');
      assert.match(consume!.tags?.['messaging.kafka.offset'] ?? '', /^\d+$/);
      assert.equal(orchestratorConsume!.tags?.['messaging.consumer.group.name'], `trace-test-${run}`);
      // The batch's Redis apply: one span per batch, a child of the record's process span.
      const apply = spans.find((s) => s.name === 'vigil.state apply');
      assert.ok(apply, 'the Redis apply span');
      assert.equal(apply.parentId, consume!.id);
      assert.equal(apply.tags?.['db.system.name'], 'redis');
      assert.equal(apply.tags?.['vigil.applied'], '1');
    });

    it('traces an API request with the maintained instrumentations: its HTTP server span, the Redis commands it ran as children', async () => {
      // The caller's own trace, as a tool or Grafana's link would send it.
      const traceId = randomUUID().replace(/-/g, '');
      const res = await fetch(`http://127.0.0.1:${stateSyncPort}/entities/${entityId}`, {
        headers: { traceparent: `00-${traceId}-${'ab'.repeat(8)}-01` },
      });
      assert.equal(res.status, 200);
      let spans: ZipkinSpan[] = [];
      const server = () => spans.find((s) => s.localEndpoint?.serviceName === 'state-sync' && s.kind === 'SERVER');
      const redis = () =>
        spans.filter((s) => s.tags?.['db.system'] === 'redis' || s.tags?.['db.system.name'] === 'redis');
      await waitUntil(
        async () => {
          spans = await zipkinTrace(traceId);
          return server() !== undefined && redis().length > 0;
        },
        30_000,
        'the request and its Redis spans in Zipkin',
      ).catch((e: Error) => {
        const held = spans.map((s) => `${s.localEndpoint?.serviceName}/${s.name}/${s.kind}`).join(', ') || 'nothing';
        throw new Error(`${e.message}; trace ${traceId} holds: ${held}`);
      });
      assert.equal(server()!.parentId, 'ab'.repeat(8), "the caller's span is the parent");
      assert.equal(server()!.tags?.['http.request.method'] ?? server()!.tags?.['http.method'], 'GET');
      for (const r of redis()) assert.equal(r.parentId, server()!.id, `${r.name} runs inside the request`);
    });
  },
);

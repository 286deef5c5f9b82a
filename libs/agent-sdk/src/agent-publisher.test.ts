import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFileSync, mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { SchemaCodec, Topics, type TopicDef } from '@vigil/events';
import { createKafkaClient, ensureTopics, highWatermarks, readPartitionRanges } from '@vigil/kafka';
import * as testing from '@vigil/kafka/testing';
import { AgentPublisher, type AgentPublisherOptions } from './agent-publisher';
import { AgentSupervisor } from './agent-supervisor';
import { agentMetricsText } from './metrics-text';
import { AgentConnection } from './connection';

import { silentLogger as quiet } from '@vigil/kafka';
const env = testing.infraEnv();
const kafka = createKafkaClient({ brokers: env.brokers, clientId: 'sdk-test', logger: quiet });
const codec = new SchemaCodec({ registryUrl: env.registryUrl });
// Nothing listens here: Kafka "down" for the publisher, without touching the shared broker.
const UNREACHABLE = ['127.0.0.1:1'];
const dirs: string[] = [];

function options(overrides: Partial<AgentPublisherOptions> = {}): AgentPublisherOptions {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'vigil-agent-'));
  dirs.push(dataDir);
  return {
    agentId: `agent-${randomUUID().slice(0, 8)}`,
    dataDir,
    brokers: env.brokers,
    registryUrl: env.registryUrl,
    logger: quiet,
    ...overrides,
  };
}

/** The decoded records with these keys on a catalogue topic, in log order per partition. */
async function recordsOf<T>(def: TopicDef<T>, keys: Set<string>, from = new Map<number, bigint>()): Promise<T[]> {
  const ends = await highWatermarks(kafka, def.name);
  const out: T[] = [];
  await readPartitionRanges(
    kafka,
    def.name,
    [...ends].map(([partition, to]) => ({ partition, from: from.get(partition) ?? 0n, to })),
    async (_, m) => {
      if (!m.key || !keys.has(m.key.toString())) return;
      const d = await codec.decode(def, m.value);
      if (d.ok) out.push(d.value);
    },
  );
  return out;
}
const eventsOnTopic = (entities: Set<string>) => recordsOf(Topics.stateChanges, entities);
/** Heartbeats since `from` (the topic is busy: other tests and benchmarks beat there too). */
const heartbeatsOf = (agents: Set<string>, from: Map<number, bigint>) => recordsOf(Topics.heartbeats, agents, from);

/** Every publisher and connection a test opened, closed in after() even when the test failed. */
const opened: Array<{ close(timeoutMs?: number): Promise<void> }> = [];
function open(o: AgentPublisherOptions): AgentPublisher {
  const publisher = AgentPublisher.open(o);
  opened.push(publisher);
  return publisher;
}

describe('AgentPublisher (the agent SDK)', () => {
  after(async () => {
    for (const o of opened) await o.close(100);
  });

  it('publishes state changes with ids and per-entity versions that continue after a restart', async () => {
    await ensureTopics(kafka, undefined, quiet);
    const opts = options();
    const entity = { id: `sdk-${randomUUID().slice(0, 8)}`, type: 'service' };
    let agent = open(opts);
    const first = await Promise.all(
      [1, 2, 3].map((n) => agent.publishStateChange(entity, n === 1 ? 'created' : 'updated', { n })),
    );
    assert.deepEqual(
      first.map((r) => r.version),
      [1, 2, 3],
    );
    assert.ok(first.every((r) => r.accepted && r.eventId));
    await agent.close();
    agent = open(opts);
    const next = await agent.publishStateChange(entity, 'updated', { n: 4 });
    assert.equal(next.version, 4, 'a restarted agent never reuses a version');
    await agent.close();
    await testing.waitUntil(async () => (await eventsOnTopic(new Set([entity.id]))).length === 4, 30000, 'four events');
    const events = await eventsOnTopic(new Set([entity.id]));
    assert.deepEqual(
      events.map((e) => e.version),
      [1, 2, 3, 4],
    );
    assert.deepEqual(
      events.map((e) => e.eventId),
      [...first.map((r) => r.eventId), next.eventId],
    );
    assert.equal(new Set(events.map((e) => e.eventId)).size, 4);
  });

  it('buffers on disk while Kafka is unreachable, without throwing or busy-looping, and closes fast', async () => {
    const opts = options({ brokers: UNREACHABLE, maxBackoffMs: 2000 });
    const agent = open(opts);
    const receipts = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        agent.publishStateChange({ id: `e${i % 10}`, type: 't' }, 'updated', { i }),
      ),
    );
    assert.ok(
      receipts.every((r) => r.accepted),
      'every change is accepted (durable) although Kafka is down',
    );
    agent.heartbeat('ok', { cpu: 0.1 });
    await new Promise((r) => setTimeout(r, 4000));
    const stats = agent.stats();
    assert.equal(stats.pending, 200);
    assert.ok(stats.sendAttempts <= 12, `backoff bounds the attempts (${stats.sendAttempts} in 4 s)`);
    const closing = agent.close();
    const closedInTime = await Promise.race([
      closing.then(() => true),
      new Promise((r) => setTimeout(() => r(false), 5000)),
    ]);
    assert.equal(closedInTime, true, 'close() does not wait for an unreachable Kafka');
    assert.ok(readdirSync(path.join(opts.dataDir, 'journal')).some((f) => f.endsWith('.log')));
  });

  it('replays what an earlier run left undelivered, in order and with the original event ids', async () => {
    const opts = options({ brokers: UNREACHABLE });
    const entity = { id: `sdk-${randomUUID().slice(0, 8)}`, type: 'service' };
    const offline = open(opts);
    const receipts = [];
    for (let i = 0; i < 50; i++) receipts.push(await offline.publishStateChange(entity, 'updated', { i }));
    await offline.close(100);
    const online = open({ ...opts, brokers: env.brokers });
    await testing.waitUntil(() => online.stats().pending === 0, 30000, 'the replay');
    await online.close();
    const events = await eventsOnTopic(new Set([entity.id]));
    assert.deepEqual(
      events.map((e) => e.eventId),
      receipts.map((r) => r.eventId),
    );
    assert.deepEqual(
      events.map((e) => e.version),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
  });

  it('when the disk buffer is full, drops new state changes (and old heartbeats first), counting each drop', async () => {
    const agent = open(options({ brokers: UNREACHABLE, maxBufferBytes: 20_000, maxQueuedHeartbeats: 3 }));
    for (let i = 0; i < 10; i++) agent.heartbeat('ok');
    assert.equal(agent.stats().droppedHeartbeats, 7);
    let dropped;
    for (let i = 0; i < 500 && !dropped; i++) {
      const r = await agent.publishStateChange({ id: 'big', type: 't' }, 'updated', { blob: 'x'.repeat(200) });
      if (!r.accepted) dropped = r;
    }
    assert.equal(dropped?.reason, 'buffer full');
    assert.equal(agent.stats().droppedStateChanges, 1);
    const next = await agent.publishStateChange({ id: 'big', type: 't' }, 'updated', {});
    assert.equal(next.accepted, false, 'still full: nothing was delivered');
    await agent.close(100);
  });

  it("renders its counts for a host's /metrics in Prometheus' text format, one family per measure and one sample per agent", async () => {
    const delivering = open(options());
    const offline = open(options({ brokers: UNREACHABLE, maxQueuedHeartbeats: 1 }));
    for (const n of [1, 2])
      assert.ok((await delivering.publishStateChange({ id: `m${n}`, type: 't' }, 'created', {})).accepted);
    for (let i = 0; i < 3; i++) offline.heartbeat('ok');
    await testing.waitUntil(() => delivering.stats().delivered === 2, 30_000, 'both changes delivered');

    const supervisor = new AgentSupervisor({
      connection: new AgentConnection({ brokers: env.brokers, registryUrl: env.registryUrl }),
      hostId: 'metrics-host',
    });
    const text = agentMetricsText({ publishers: [delivering, offline], supervisors: [supervisor] });
    assert.match(text, /^vigil_supervisor_commands_total\{host="metrics-host",outcome="handled"\} 0$/m);
    const sample = (name: string, agent: string) =>
      Number(new RegExp(`^${name}\\{agent="${agent}"\\} (\\S+)$`, 'm').exec(text)?.[1]);
    assert.equal(sample('vigil_agent_state_changes_delivered_total', delivering.agentId), 2);
    assert.equal(sample('vigil_agent_state_changes_pending', delivering.agentId), 0);
    assert.equal(sample('vigil_agent_kafka_connected', delivering.agentId), 1);
    assert.equal(sample('vigil_agent_heartbeats_dropped_total', offline.agentId), 2);
    assert.equal(sample('vigil_agent_kafka_connected', offline.agentId), 0);
    assert.equal(text.match(/^# TYPE vigil_agent_state_changes_delivered_total counter$/gm)?.length, 1, 'one family');
    // Prometheus' own linter reads it as a valid exposition that follows its naming conventions.
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.ok(!lint.error, 'promtool not found: bash infra/prometheus.sh bin installs it');
    assert.equal(lint.status, 0, `promtool check metrics: ${lint.stdout}${lint.stderr}`);
  });

  it('sends heartbeats every interval with what report() says, and ends with `stopping` on close (deregistration)', async () => {
    const from = await highWatermarks(kafka, Topics.heartbeats.name);
    const opts = options({ heartbeat: { intervalMs: 200, missThreshold: 3, agentVersion: '9.9.9' } });
    const agent = open(opts);
    let n = 0;
    agent.startHeartbeats(() => ({ metrics: { n: n++ }, checks: [{ name: 'db', ok: n < 3, detail: null }] }));
    await new Promise((r) => setTimeout(r, 1100));
    await agent.close();
    const beats = await heartbeatsOf(new Set([opts.agentId]), from);
    assert.ok(beats.length >= 5, `about one per 200 ms (got ${beats.length})`);
    assert.deepEqual(
      beats.slice(0, 3).map((b) => b.metrics.n),
      [0, 1, 2],
      'report() is asked for each beat, in order',
    );
    assert.equal(beats.at(-1)!.status, 'stopping', 'the last one deregisters');
    assert.equal(beats.filter((b) => b.status === 'stopping').length, 1);
    assert.ok(beats.every((b) => b.agentVersion === '9.9.9' && b.intervalMs === 200));
    assert.deepEqual(
      beats[3]!.checks.map((c) => c.ok),
      [false],
      'failed checks are carried',
    );
  });

  it('goes silent without `stopping` when closed with deregister: false; publishers can share one connection', async () => {
    const from = await highWatermarks(kafka, Topics.heartbeats.name);
    const connection = new AgentConnection({ brokers: env.brokers, registryUrl: env.registryUrl, logger: quiet });
    opened.push(connection);
    const agents = [options({ connection }), options({ connection })].map((o) => open(o));
    for (const a of agents) a.startHeartbeats();
    await new Promise((r) => setTimeout(r, 500));
    await agents[0]!.close(1000, { deregister: false });
    await agents[1]!.close(1000);
    await connection.close();
    const ids = agents.map((a) => a.agentId);
    const beats = await heartbeatsOf(new Set(ids), from);
    assert.ok(beats.some((b) => b.agentId === ids[0]) && beats.some((b) => b.agentId === ids[1]));
    assert.deepEqual(
      beats.filter((b) => b.status === 'stopping').map((b) => b.agentId),
      [ids[1]],
      'only the agent that closed normally deregistered',
    );
  });

  it('survives a torn journal tail (a crash mid-write): keeps every whole record, drops the torn one', async () => {
    const opts = options({ brokers: UNREACHABLE });
    const agent = open(opts);
    for (let i = 0; i < 5; i++) await agent.publishStateChange({ id: 'e', type: 't' }, 'updated', { i });
    await agent.close(100);
    const journalDir = path.join(opts.dataDir, 'journal');
    const segment = readdirSync(journalDir)
      .filter((f) => f.endsWith('.log'))
      .sort()
      .at(-1)!;
    appendFileSync(path.join(journalDir, segment), Buffer.from([0, 0, 1, 0, 9, 9]));
    const reopened = open(opts);
    assert.equal(reopened.stats().pending, 5);
    assert.equal((await reopened.publishStateChange({ id: 'e', type: 't' }, 'updated', {})).version, 6);
    await reopened.close(100);
  });
});

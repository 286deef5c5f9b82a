// The operator's first hour, end to end: `bash infra/start.sh` brings up the services and a fleet
// and shows it live; the `vigil` CLI answers against that running system (fleet, agent, entity,
// alerts, silences, backups, restore plans, traces, dead letters); Ctrl-C, sent to the script's
// process group as a terminal sends it, stops everything it started (checked with ps).
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sampleStateChange, Topics, type DeadLetter } from '@vigil/events';
import { connectToInfra, envWithout, isPortOpen, repoRoot, waitUntil, type InfraConnection } from '@vigil/test-kit';

const CLI = path.join(repoRoot, 'tools/cli/dist/main.js');
/** This run's agents, apart from any an earlier demo left registered in the same Redis. */
const P = `op${randomUUID().slice(0, 6)}`;
const killed = `${P}-07`;
const PORTS = [3001, 3002, 3003, 3004];
/** What up.sh writes to .vigil/infra.env: without it in the env, start.sh finds the infra as a user's shell would. */
const INFRA_VARIABLES = [
  'KAFKA_BROKERS',
  'SCHEMA_REGISTRY_URL',
  'REDIS_URL',
  'ALERTMANAGER_URL',
  'S3_ENDPOINT',
  'S3_ACCESS_KEY_ID',
  'S3_SECRET_ACCESS_KEY',
  'ZIPKIN_URL',
  'OTEL_EXPORTER_ZIPKIN_ENDPOINT',
  'PROMETHEUS_URL',
  'PROMETHEUS_TARGETS_DIR',
  'CI',
];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function vigil(...args: string[]): Run {
  const r = spawnSync('node', [CLI, ...args], { encoding: 'utf8', timeout: 60_000, env: process.env });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A condition checked at most once a second: each check starts a CLI process. */
const everySecond =
  (check: () => boolean): (() => Promise<boolean>) =>
  async () =>
    check() || (await new Promise((r) => setTimeout(r, 1000)), false);

function vigilJson<T>(...args: string[]): T {
  const r = vigil('--json', ...args);
  assert.equal(r.code, 0, `vigil ${args.join(' ')} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** Processes whose process group is the demo's. */
function groupMembers(pgid: number): string[] {
  const ps = spawnSync('ps', ['-eo', 'pid=,pgid=,args='], { encoding: 'utf8' }).stdout;
  return ps
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => Number(f[1]) === pgid)
    .map((f) => `${f[0]} ${f.slice(2).join(' ')}`);
}

describe('the demo and the vigil CLI, against a running system', { timeout: 400_000 }, () => {
  let demo: ChildProcess;
  let output = '';
  let exited: Promise<number | null>;
  let infra: InfraConnection;

  before(async () => {
    for (const port of PORTS) assert.equal(await isPortOpen(port), false, `port ${port} is taken: the demo needs it`);
    infra = connectToInfra(`operator-cli-${randomUUID()}`);
    demo = spawn('bash', [path.join(repoRoot, 'infra/start.sh'), '--no-install'], {
      env: envWithout(INFRA_VARIABLES, {
        FLEET_AGENTS: '30',
        FLEET_PREFIX: P,
        FLEET_HEAL_SUCCESS: '0',
        VIGIL_DEMO_CHAOS: '0',
        VIGIL_WATCH_ROWS: '40',
      }),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    demo.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    demo.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    exited = new Promise((r) => demo.once('exit', (code) => r(code)));
    await waitUntil(
      () => output.includes('Vigil fleet at') && /30 agents: 30 healthy/.test(output),
      180_000,
      'the live view to show 30 healthy agents',
    ).catch((e: Error) => assert.fail(`${e.message}:\n${output.slice(-3000)}`));
  });

  after(async () => {
    if (demo.exitCode === null) process.kill(-demo.pid!, 'SIGKILL');
    await infra?.close();
  });

  it('the live view shows the fleet table with counts, and an agent killed on command goes unreachable in its feed', async () => {
    assert.match(output, /AGENT\s+HOST\s+STATE\s+SINCE\s+LAST HEARTBEAT\s+LAST BACKUP\s+OPEN ALERTS/);
    assert.match(output, new RegExp(`${P}-\\d+\\s+sim-host-\\d+\\s+healthy`));
    writeFileSync(path.join(repoRoot, '.vigil/fleet.commands'), `kill ${killed}\n`);
    await waitUntil(
      () => new RegExp(`${killed} suspect -> unreachable`).test(output),
      60_000,
      `${killed} unreachable in the feed`,
    ).catch((e: Error) => assert.fail(`${e.message}:\n${output.slice(-3000)}`));
    await waitUntil(
      () => new RegExp(`heal ${killed}: restart, attempt 1`).test(output),
      30_000,
      'the first heal in the feed',
    );
    assert.match(output, /newest heal chain: http:\/\/127\.0\.0\.1:9411\/zipkin\/traces\/[0-9a-f]{32}/);
  });

  it('status: every service ready, the fleet by state', () => {
    const r = vigil('status');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const s of ['heartbeat', 'state-sync', 'backup-orchestrator', 'notifier'])
      assert.match(r.stdout, new RegExp(`${s}\\s+yes`));
    const json = vigilJson<{ fleet: { total: number; counts: Record<string, number> } }>('status');
    assert.ok(json.fleet.total >= 30);
  });

  it('agents --state, agent and entity: what the services hold, as tables and JSON', async () => {
    const dead = vigilJson<{ agents: Array<{ agentId: string; state: string }> }>(
      'agents',
      '--state',
      'unreachable',
      '--prefix',
      `${P}-`,
    );
    assert.deepEqual(
      dead.agents.map((a) => a.agentId),
      [killed],
    );
    assert.match(vigil('agents', '--prefix', `${P}-0`).stdout, new RegExp(`${P}-03\\s+sim-host-0\\s+healthy`));
    // With every heal failing, the notifier gives up after three and alerts.
    await waitUntil(
      everySecond(() => vigilJson<{ alerts: unknown[] }>('alerts', '--agent', killed).alerts.length > 0),
      90_000,
      'the alert after three failed heals',
    );
    const one = vigilJson<{ state: string; heals: { attempts: unknown[] }; alerts: Array<{ alertName: string }> }>(
      'agent',
      killed,
    );
    assert.equal(one.state, 'unreachable');
    assert.equal(one.heals.attempts.length, 3);
    assert.deepEqual(
      one.alerts.map((a) => a.alertName),
      ['AgentUnreachable'],
    );
    assert.match(vigil('agent', killed).stdout, /heals:\s+\w+, 3 attempt\(s\)/);
    const entities = await fetch(`http://127.0.0.1:3002/agents/${P}-03/entities`).then(
      (r) => r.json() as Promise<{ entities: Array<{ entityId: string; version: number }> }>,
    );
    const e = entities.entities[0]!;
    const shown = vigilJson<{ entityId: string; version: number }>('entity', e.entityId);
    assert.equal(shown.entityId, e.entityId);
    assert.ok(shown.version >= e.version);
    const missing = vigil('agent', 'nobody-here');
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /agent nobody-here is not registered/);
  });

  it('alerts and silences: a silence mutes the alert, expiring it unmutes', () => {
    const set = vigilJson<{ silenceID: string }>(
      'silence',
      'add',
      'alertname=AgentUnreachable',
      `agent=${killed}`,
      '--comment',
      'operator-cli test',
      '--duration',
      '10m',
    );
    const listed = vigilJson<{ alerts: Array<{ state: string; silencedBy: string[] }> }>('alerts', '--agent', killed);
    assert.deepEqual(listed.alerts[0]!.silencedBy, [set.silenceID]);
    assert.equal(vigilJson<{ alerts: unknown[] }>('alerts', '--agent', killed, '--active').alerts.length, 0);
    assert.match(vigil('silence', 'ls').stdout, new RegExp(`${set.silenceID}\\s+active`));
    assert.equal(vigil('silence', 'expire', set.silenceID).code, 0);
    assert.equal(vigilJson<{ alerts: unknown[] }>('alerts', '--agent', killed, '--active').alerts.length, 1);
    const bad = vigil('silence', 'add', 'not a matcher', '--comment', 'x');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /notifier: silence: matchers/);
  });

  it('backups: the demo policy backs every agent up, the CLI and the live view show the newest verified one', async () => {
    // The demo's policy fires on each minute's :00 (every other minute, full) and :30.
    await waitUntil(
      everySecond(() => vigilJson<{ backups: unknown[] }>('backups', `${P}-03`).backups.length > 0),
      100_000,
      `a verified backup of ${P}-03`,
    );
    assert.match(
      vigil('backups', `${P}-03`).stdout,
      new RegExp(`demo/${P}-03/\\S+\\s+demo\\s+(full|incremental)\\s+\\d+ B\\s+\\d+s ago`),
    );
    await waitUntil(
      () => new RegExp(`${P}-03\\s+sim-host-0\\s+healthy\\s+\\S+ ago\\s+\\S+ ago\\s+\\d+s ago`).test(output),
      10_000,
      `${P}-03's last backup in the live view`,
    );
  });

  it('restore-plan: the order with estimates as a dry run; an agent nobody knows is refused with the reason', () => {
    const plan = vigil('restore-plan', `${P}-03`, `${P}-08`);
    assert.equal(plan.code, 0, plan.stdout + plan.stderr);
    assert.match(plan.stdout, /AGENT\s+TIER\s+AFTER\s+SIZE\s+STARTS\s+DONE BY\s+STATUS/);
    assert.match(plan.stdout, new RegExp(`${P}-03\\s+\\d+\\s+-\\s+\\d+ B\\s+\\+[\\d.]+s\\s+\\+[\\d.]+s\\s+pending`));
    assert.match(plan.stdout, /plan rp-\S+: draft, 2 step\(s\)/);
    assert.match(plan.stdout, /dry run; to run it/);
    const refused = vigil('restore-plan', 'nobody-here');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /backup-orchestrator: not registered: nobody-here \(HTTP 422\)/);
  });

  it('trace: the heal chain of the killed agent, with a link that opens in Zipkin', async () => {
    let found: { traceId: string; link: string } | undefined;
    await waitUntil(
      everySecond(() => {
        const r = vigil('--json', 'trace', killed);
        if (r.code === 0) found = JSON.parse(r.stdout) as { traceId: string; link: string };
        return r.code === 0;
      }),
      30_000,
      `a trace of ${killed} in Zipkin`,
    );
    assert.match(found!.traceId, /^[0-9a-f]{32}$/);
    assert.equal(found!.link, `http://127.0.0.1:9411/zipkin/traces/${found!.traceId}`);
    assert.equal((await fetch(`http://127.0.0.1:9411/api/v2/trace/${found!.traceId}`)).status, 200);
  });

  it('dlq: peeks at dead letters, replays state changes once after a fix, never bounces one refused again, refuses to replay heartbeats', async () => {
    const entityId = `cli-replay-${randomUUID()}`;
    const event = sampleStateChange(entityId, 1, { agentId: `${P}-03`, eventId: randomUUID() });
    // A change state-sync refused while it had a bug, now fixed: its dead letter holds the bytes.
    const letter: DeadLetter = {
      topic: Topics.stateChanges.name,
      partition: 0,
      offset: 0,
      key: Buffer.from(entityId),
      value: await infra.codec.encode(Topics.stateChanges, event),
      headers: {},
      timestamp: Date.now(),
      reason: 'rejected',
      error: 'operator-cli test: a reader bug since fixed',
      consumerGroup: 'vigil-state-sync',
      failedAt: Date.now(),
    };
    // And one whose bytes are still bad: replayed, it is refused again, and not replayed a second time.
    const stillBad: DeadLetter = {
      ...letter,
      key: Buffer.from(`${entityId}-bad`),
      value: Buffer.from('not an Avro record'),
      error: 'operator-cli test: bytes no fix can read',
    };
    // And one cut to fit its DLQ (its record was as big as the broker takes): no bytes to republish.
    const cut: DeadLetter = {
      ...letter,
      key: Buffer.from(`${entityId}-cut`),
      value: letter.value!.subarray(0, 10),
      truncated: true,
      valueBytes: 1_048_000,
      valueSha256: 'c'.repeat(64),
    };
    // The DLQ holds every earlier test's letters (the fuzzer's thousands among them): the replay starts
    // where this test's letters do, as an operator's replay would after replaying the older ones.
    const dlq = Topics.stateChanges.dlq!.name;
    const admin = infra.kafka.admin();
    await admin.connect();
    const [{ high }] = await admin.fetchTopicOffsets(dlq);
    await admin.setOffsets({
      groupId: `vigil-cli-replay.${dlq}`,
      topic: dlq,
      partitions: [{ partition: 0, offset: high }],
    });
    await admin.disconnect();
    await infra.producer.send(Topics.stateChanges.dlq!, [{ value: letter }, { value: stillBad }, { value: cut }]);
    type Peek = { letters: Array<{ key: string; reason: string; error: string }> };
    const peek = vigilJson<Peek>('dlq', Topics.stateChanges.name, '--limit', '50');
    assert.ok(peek.letters.some((l) => l.key === entityId && l.reason === 'rejected'));
    assert.match(vigil('dlq', 'stateChanges').stdout, /rejected\s+vigil\.agent\.state-changes\/0\/0\s+cli-replay-/);

    type Replay = { replayed: Array<{ offset: number }>; skipped: Array<{ offset: number; why: string }> };
    const replay = vigilJson<Replay>('dlq', Topics.stateChanges.name, '--replay');
    assert.ok(replay.replayed.length >= 2);
    assert.ok(
      replay.skipped.some((s) =>
        /cut to fit .*: it holds 10 of the value's 1048000 bytes \(sha256 c{64}\)/.test(s.why),
      ),
      JSON.stringify(replay.skipped),
    );
    await waitUntil(
      everySecond(() => vigil('entity', entityId).code === 0),
      30_000,
      'the replayed change applied',
    );
    assert.equal(vigilJson<{ version: number }>('entity', entityId).version, 1);
    // state-sync refuses the bad bytes again: a new dead letter, which carries where the replay took it from.
    await waitUntil(
      everySecond(() =>
        vigilJson<Peek>('dlq', Topics.stateChanges.name, '--limit', '50').letters.some(
          (l) => l.key === `${entityId}-bad` && l.reason === 'undecodable',
        ),
      ),
      30_000,
      'the bad record dead-lettered again',
    );
    // A second replay republishes nothing: what it replayed is committed, what bounced is skipped.
    const again = vigilJson<Replay>('dlq', Topics.stateChanges.name, '--replay');
    assert.equal(again.replayed.length, 0);
    assert.ok(
      again.skipped.some((s) =>
        /refused again after its replay from vigil\.agent\.state-changes\.dlq\/\d+: undecodable/.test(s.why),
      ),
    );

    const refused = vigil('dlq', Topics.heartbeats.name, '--replay');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /refused: .*would revive a dead agent/);
  });

  it('Ctrl-C stops the demo and everything it started: no process of its group is left, the ports are free', async () => {
    const pgid = demo.pid!;
    assert.ok(groupMembers(pgid).some((p) => /services\/heartbeat\/dist\/main\.js/.test(p)));
    process.kill(-pgid, 'SIGINT');
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 60_000))]);
    assert.notEqual(code, 'timeout', `the demo did not stop within 60 s:\n${output.slice(-2000)}`);
    await waitUntil(() => groupMembers(pgid).length === 0, 20_000, 'the group to empty').catch(() =>
      assert.fail(`processes left behind:\n${groupMembers(pgid).join('\n')}`),
    );
    for (const port of PORTS) assert.equal(await isPortOpen(port), false, `port ${port} still answers`);
    assert.match(output, /stopping services/);
  });
});

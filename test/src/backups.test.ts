// Backups end to end on real files: the orchestrator as a real process schedules them, this
// process is the agent's host supervisor (the SDK's BackupRunner archiving into a directory store),
// the orchestrator reads every archive back to verify it, keeps and prunes by policy.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AgentConnection, AgentSupervisor, BackupRunner, FileSystemStore } from '@vigil/agent-sdk';
import { readManifest } from '@vigil/backup';
import {
  sampleStateChange,
  Topics,
  type AgentLivenessChanged,
  type AgentRegistration,
  type AlertEvent,
  type BackupVerified,
  type HealCommand,
} from '@vigil/events';
import {
  connectToInfra,
  freePort,
  infraEnv,
  startNotifier,
  startService,
  stopProcess,
  waitServiceReady,
  waitUntil,
  watchTopic,
  type RunningNotifier,
  type ServiceProcess,
  type TopicWatch,
} from '@vigil/test-kit';

const run = randomUUID().slice(0, 8);
const work = mkdtempSync(path.join(tmpdir(), 'vigil-backups-'));
const data = path.join(work, 'data');
const storeDir = path.join(work, 'store');
const policyFile = path.join(work, 'policies.yaml');
const notifierPolicy = path.join(work, 'notifier.yaml');
const agentId = `bk${run}-agent`;

/** The tree under `data` as the manifest should list it: relative path and type. */
function tree(dir = data, prefix = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const rel = path.join(prefix, e.name);
    out.push(`${rel}:${e.isDirectory() ? 'dir' : 'file'}`);
    if (e.isDirectory()) out.push(...tree(path.join(dir, e.name), rel));
  }
  return out;
}

/** A cron expression (seconds first, UTC) that fires at exactly these instants, all within one minute. */
function cronAt(times: number[]): string {
  const d = times.map((t) => new Date(t));
  const [first] = d;
  return `${d.map((x) => x.getUTCSeconds()).join(',')} ${first!.getUTCMinutes()} ${first!.getUTCHours()} ${first!.getUTCDate()} ${first!.getUTCMonth() + 1} *`;
}

describe(
  'backups: scheduled full and incrementals, verified by reading them back, kept and pruned by policy, alerted on',
  { timeout: 300_000 },
  () => {
    const { kafka, codec, producer, close } = connectToInfra('backups-test');
    const group = `backups-test-${run}`;
    let orchestrator: ServiceProcess & { port: number };
    let verified: TopicWatch<BackupVerified>;
    let alerts: TopicWatch<AlertEvent>;
    let notifier: RunningNotifier;
    let supervisor: AgentSupervisor;
    let connection: AgentConnection;
    let runner: BackupRunner;
    let slots: number[];

    const api = async <T>(method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: T }> => {
      const res = await fetch(`http://127.0.0.1:${orchestrator.port}${urlPath}`, {
        method,
        headers: body ? { 'content-type': 'application/json' } : {},
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: res.status, body: (await res.json()) as T };
    };
    const verdicts = () => verified.values((v) => v.agentId === agentId);
    const waitVerdicts = (n: number, what: string, ms = 30_000) => waitUntil(() => verdicts().length >= n, ms, what);

    before(async () => {
      mkdirSync(path.join(data, 'conf'), { recursive: true });
      writeFileSync(path.join(data, 'conf', 'app.yaml'), 'port: 8080\n');
      writeFileSync(path.join(data, 'db.bin'), Buffer.alloc(200_000, 1));
      writeFileSync(path.join(data, 'old.log'), 'old\n');
      verified = await watchTopic(kafka, codec, Topics.backupVerified, (v) => v.agentId.startsWith(`bk${run}`));
      alerts = await watchTopic(kafka, codec, Topics.alerts, (a) => a.agentId === agentId);
      writeFileSync(
        notifierPolicy,
        `heal:\n  preHealBackup: { policyId: files, kind: incremental, waitMs: 20000 }\n  timeoutMs: 60000\n`,
      );
      notifier = await startNotifier(`backups-test-notifier-${run}`, {
        SWEEP_INTERVAL_MS: '100',
        NOTIFIER_POLICY_FILE: notifierPolicy,
      });
      const registration: AgentRegistration = {
        agentId,
        host: `bk${run}-host`,
        agentVersion: '1.0.0',
        priorityTier: 0,
        dependencies: [],
        labels: { fleet: `bk${run}` },
        intervalMs: 1000,
        missThreshold: 3,
        startPeriodMs: 0,
        bootId: 'b1',
        registeredAt: Date.now(),
        changedAt: Date.now(),
      };
      await producer.send(Topics.agentRegistry, [{ key: agentId, value: registration }]);

      const env = infraEnv();
      connection = new AgentConnection({ brokers: env.brokers, registryUrl: env.registryUrl });
      runner = new BackupRunner({ connection, store: new FileSystemStore(storeDir), allow: [data] });
      supervisor = new AgentSupervisor({ connection, hostId: `bk${run}-host` });
      supervisor.register(agentId, { backup: runner.handler });
      await supervisor.start();

      // Three slots within one minute, ahead of the orchestrator's start (written just before it, so a
      // slow setup cannot make them fall together): a full, then two incrementals 8 s apart. A full
      // whose slot passed while the orchestrator was starting still fires (misfire grace).
      let start = Date.now() + 15_000;
      if (new Date(start).getUTCSeconds() > 40) start += (62 - new Date(start).getUTCSeconds()) * 1000;
      start = Math.ceil(start / 1000) * 1000;
      slots = [start, start + 8_000, start + 16_000];
      writeFileSync(
        policyFile,
        `policies:
  - id: files
    selector: ['fleet=bk${run}']
    paths: ['${data}']
    full: { cron: '${cronAt([slots[0]!])}' }
    incremental: { cron: '${cronAt(slots.slice(1))}' }
    retention: { keepLast: 2 }
    timeoutMs: 20000
    maxAttempts: 2
    retryBackoffMs: 500
  - id: on-change
    selector: ['fleet=bk${run}']
    paths: ['${data}']
    onStateChange: { entityTypes: ['bkdb${run}'], kind: full }
    retention: { keepLast: 5 }
  - id: outside
    selector: ['fleet=bk${run}']
    paths: ['/etc']
    maxAttempts: 1
`,
      );
      const port = await freePort();
      orchestrator = {
        ...startService('backup-orchestrator', {
          ...process.env,
          HTTP_PORT: String(port),
          CONSUMER_GROUP: group,
          BACKUP_POLICY_FILE: policyFile,
          BACKUP_STORE_DIR: storeDir,
          TICK_INTERVAL_MS: '200',
          LOG_LEVEL: 'info',
        }),
        port,
      };
      await waitServiceReady(orchestrator, port, 60_000, 'the orchestrator');
    });

    after(async () => {
      await Promise.all([stopProcess(orchestrator.child), stopProcess(notifier.child)]);
      await alerts.stop();
      await supervisor.stop();
      await runner.idle();
      await connection.close();
      await verified.stop();
      await close();
      rmSync(work, { recursive: true, force: true });
    });

    it('fires the scheduled full, then two incrementals after changes; each verified, each manifest the tree exactly', async () => {
      await waitVerdicts(1, 'the scheduled full', slots[0]! - Date.now() + 20_000);
      const trees = [tree()];
      // Changes before the first incremental: one file rewritten, one added, one deleted.
      writeFileSync(path.join(data, 'conf', 'app.yaml'), 'port: 9090\n');
      writeFileSync(path.join(data, 'new.txt'), 'new\n');
      rmSync(path.join(data, 'old.log'));
      trees.push(tree());
      await waitVerdicts(2, 'the first incremental', slots[1]! - Date.now() + 20_000);
      mkdirSync(path.join(data, 'cache'));
      writeFileSync(path.join(data, 'cache', 'x'), 'x\n');
      rmSync(path.join(data, 'new.txt'));
      trees.push(tree());
      await waitVerdicts(3, 'the second incremental', slots[2]! - Date.now() + 20_000);

      const v = verdicts();
      assert.deepEqual(
        v.map((x) => `${x.kind}/${x.verdict}`),
        ['full/verified', 'incremental/verified', 'incremental/verified'],
        JSON.stringify(v.map((x) => x.reason)),
      );
      assert.equal(v[1]!.baseJobId, v[0]!.jobId, 'the first incremental builds on the full');
      assert.equal(v[2]!.baseJobId, v[1]!.jobId, 'the second on the first');
      assert.match(v[0]!.jobId, new RegExp(`^files/${agentId}/full@${new Date(slots[0]!).toISOString()}$`));
      const store = new FileSystemStore(storeDir);
      for (const [i, x] of v.entries()) {
        const m = await readManifest(store, x.manifestLocation!);
        assert.deepEqual(
          m.entries.filter((e) => e.path !== data).map((e) => `${path.relative(data, e.path)}:${e.type}`),
          trees[i],
          `manifest ${i}`,
        );
      }
      // Exactly one job per slot (the scheduler ticked many times in each).
      const jobs = (await api<{ jobs: Array<{ jobId: string }> }>('GET', `/jobs?agent=${agentId}`)).body.jobs;
      assert.equal(jobs.length, 3, jobs.map((j) => j.jobId).join(', '));
    });

    it('backs up an agent when an entity of a watched type changed, once per accepted change', async () => {
      const change = sampleStateChange(`bk${run}-db1`, 4, { entityType: `bkdb${run}`, agentId });
      const other = sampleStateChange(`bk${run}-svc1`, 1, { entityType: 'service', agentId });
      // As state-sync publishes accepted changes; the same record twice (a redelivery) and an unwatched type.
      await producer.send(Topics.stateChangelog, [{ value: change }, { value: change }, { value: other }]);
      const id = `on-change/${agentId}/full@change-bk${run}-db1-v4`;
      await waitUntil(() => verdicts().some((x) => x.jobId === id), 30_000, 'the backup the change asked for');
      assert.equal(verdicts().find((x) => x.jobId === id)!.verdict, 'verified');
      const jobs = (
        await api<{ jobs: Array<{ jobId: string; trigger: string }> }>('GET', `/jobs?agent=${agentId}&policy=on-change`)
      ).body.jobs;
      assert.deepEqual(
        jobs.map((j) => `${j.jobId}:${j.trigger}`),
        [`${id}:state_change`],
      );
    });

    it('refuses a path outside the allow-list, with the reason, reading nothing', async () => {
      const before = verdicts().length;
      const res = await api<{ jobId: string }>('POST', `/agents/${agentId}/backups`, { policyId: 'outside' });
      assert.equal(res.status, 202);
      await waitVerdicts(before + 1, 'the refusal');
      const v = verdicts().at(-1)!;
      assert.equal(v.jobId, res.body.jobId);
      assert.equal(v.verdict, 'failed');
      assert.match(v.reason ?? '', /refused: path \/etc is outside the agent's backup allow-list/);
      assert.ok(
        !readdirSync(storeDir, { recursive: true }).some((f) => String(f).includes('outside')),
        'nothing stored',
      );
      assert.equal((await api('POST', `/agents/${agentId}/backups`, { policyId: 'nope' })).status, 400);
      // The notifier alerts on the failed verdict.
      await waitUntil(
        () => alerts.values((a) => a.alertName === 'BackupFailed' && a.labels.policy === 'outside').length >= 1,
        15_000,
        'BackupFailed for the refused backup',
      );
    });

    it('keeps what retention says after 10 backups, and never the full a kept incremental needs', async () => {
      // 3 so far (F I I); then I I F I F I I: the newest two are incrementals on the last full.
      for (const kind of ['incremental', 'incremental', 'full', 'incremental', 'full', 'incremental', 'incremental']) {
        const before = verdicts().filter((x) => x.verdict === 'verified').length;
        writeFileSync(path.join(data, 'conf', 'app.yaml'), `port: ${before}\n`);
        const { body } = await api<{ jobId: string }>('POST', `/agents/${agentId}/backups`, {
          policyId: 'files',
          kind,
        });
        await waitUntil(() => verdicts().some((x) => x.jobId === body.jobId), 30_000, `backup ${before + 1}`);
      }
      const all = verdicts().filter((x) => x.verdict === 'verified' && x.jobId.startsWith('files/'));
      assert.equal(all.length, 10);
      assert.deepEqual(all.map((x) => x.kind[0]).join(''), 'fiiiififii');
      const kept = (
        await api<{ backups: Array<{ jobId: string; policyId: string }> }>('GET', `/agents/${agentId}/backups`)
      ).body.backups.filter((b) => b.policyId === 'files');
      // The newest two, and the full the older of them builds on.
      assert.deepEqual(
        kept.map((b) => b.jobId),
        [all[9]!.jobId, all[8]!.jobId, all[7]!.jobId],
      );
      // The pruned ones are gone from the store, archives and manifests.
      for (const x of all.slice(0, 7)) {
        assert.throws(() => readFileSync(x.location!), /ENOENT/, `${x.jobId} pruned`);
        assert.throws(() => readFileSync(x.manifestLocation!), /ENOENT/);
      }
      for (const x of all.slice(7)) assert.ok(readFileSync(x.location!).length > 0);
    });

    it('fails the verification of an archive whose bytes were flipped in the store, naming why', async () => {
      const kept = (
        await api<{ backups: Array<{ jobId: string; location: string; policyId: string }> }>(
          'GET',
          `/agents/${agentId}/backups`,
        )
      ).body.backups.filter((b) => b.policyId === 'files');
      const victim = kept.at(-1)!; // the full the others build on
      const bytes = readFileSync(victim.location);
      bytes[Math.floor(bytes.length / 2)] ^= 0xff;
      writeFileSync(victim.location, bytes);
      const before = verdicts().length;
      const res = await api<{ status: string; verdict: BackupVerified }>(
        'POST',
        `/jobs/${encodeURIComponent(victim.jobId)}/verify`,
      );
      assert.equal(res.body.status, 'failed');
      assert.match(
        res.body.verdict.reason ?? '',
        /re-verification: the archive's SHA-256 in the store is [0-9a-f]{64}, the agent reported/,
      );
      await waitVerdicts(before + 1, 'the failed verdict');
      assert.equal(verdicts().at(-1)!.verdict, 'failed');
      // No longer kept: the next incremental cannot build on it and becomes a full.
      const { body } = await api<{ jobId: string }>('POST', `/agents/${agentId}/backups`, {
        policyId: 'files',
        kind: 'incremental',
      });
      await waitUntil(() => verdicts().some((x) => x.jobId === body.jobId), 30_000, 'the backup after');
      const next = verdicts().find((x) => x.jobId === body.jobId)!;
      assert.deepEqual([next.kind, next.verdict], ['full', 'verified']);
      // The notifier alerted on the failed verdict and resolved on the verified one.
      await waitUntil(
        () => alerts.values((a) => a.alertName === 'BackupFailed' && a.labels.policy === 'files').length >= 2,
        15_000,
        'BackupFailed, then resolved',
      );
      const backupAlerts = alerts.values((a) => a.alertName === 'BackupFailed' && a.labels.policy === 'files');
      assert.deepEqual(
        backupAlerts.map((a) => a.status),
        ['firing', 'resolved'],
      );
      assert.deepEqual(backupAlerts[0]!.labels, { alertname: 'BackupFailed', agent: agentId, policy: 'files' });
      assert.match(backupAlerts[0]!.summary, /SHA-256/);
    });

    it('takes a pre-heal backup when the notifier asks, before it heals', async () => {
      const heals = await watchTopic(kafka, codec, Topics.healCommands, (h: HealCommand) => h.agentId === agentId);

      try {
        const since = Date.now();

        const down: AgentLivenessChanged = {
          agentId,

          from: 'healthy',

          to: 'unreachable',

          since,

          lastHeartbeatAt: since - 3000,

          reason: 'test',

          host: `bk${run}-host`,

          eventId: `${agentId}/healthy>unreachable@${since}`,
        };

        await producer.send(Topics.liveness, [{ value: down }]);

        await waitUntil(() => heals.seen.length >= 1, 30_000, 'the heal, after the backup');

        const pre = verdicts().find((v) => v.jobId.endsWith(`@pre_heal-${down.eventId}`));

        assert.ok(pre, 'a pre-heal backup was taken');

        assert.equal(pre.verdict, 'verified', pre.reason ?? '');

        assert.match(pre.jobId, new RegExp(`^files/${agentId}/incremental@pre_heal-`));

        assert.ok(heals.seen[0]!.value.issuedAt >= pre.verifiedAt, 'the heal waited for the verdict');
      } finally {
        await heals.stop();
      }
    });

    it('dead-letters a malformed result and goes on; refuses to start on a malformed policy file, naming the field', async () => {
      const dlq = await watchTopic(kafka, codec, Topics.backupResults.dlq!, (d) => d.key?.toString() === agentId);
      try {
        await producer.sendRaw(Topics.backupResults.name, [{ key: agentId, value: Buffer.from('not avro at all') }]);
        await waitUntil(() => dlq.seen.length >= 1, 15_000, 'the dead letter');
        assert.equal(dlq.seen[0]!.value.reason, 'undecodable');
        assert.equal(dlq.seen[0]!.value.consumerGroup, group);
        // Still at work: a backup after it is verified.
        const { body } = await api<{ jobId: string }>('POST', `/agents/${agentId}/backups`, { policyId: 'files' });
        await waitUntil(
          () => verdicts().some((x) => x.jobId === body.jobId && x.verdict === 'verified'),
          30_000,
          'a backup after it',
        );
      } finally {
        await dlq.stop();
      }
      const bad = path.join(work, 'bad.yaml');
      writeFileSync(bad, `policies:\n  - id: x\n    paths: [relative/path]\n`);
      const proc = startService('backup-orchestrator', {
        ...process.env,
        HTTP_PORT: String(await freePort()),
        BACKUP_POLICY_FILE: bad,
      });
      const { code } = await proc.exited;
      assert.notEqual(code, 0);
      assert.match(proc.output(), /policy file .*bad\.yaml: field policies\.0\.paths\.0: paths are absolute/);
    });
  },
);

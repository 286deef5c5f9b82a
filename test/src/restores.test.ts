// Restore plans end to end: the orchestrator as a real process plans db -> auth -> web from the
// registry and the verified backups, runs it through this process's host supervisor (the SDK's
// BackupRunner and RestoreRunner on real files), each step gated on the restored agent's next
// healthy heartbeat; a corrupted archive stops the plan; a cycle is refused by name.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AgentConnection, AgentSupervisor, BackupRunner, FileSystemStore, RestoreRunner } from '@vigil/agent-sdk';
import {
  sampleHeartbeat,
  sampleRegistration,
  Topics,
  type AgentReportedStatus,
  type BackupVerified,
  type RestoreResult,
} from '@vigil/events';
import {
  connectToInfra,
  infraEnv,
  startOrchestrator,
  stopProcess,
  treeSnapshot,
  waitUntil,
  watchTopic,
  type RunningOrchestrator,
  type Seen,
  type TopicWatch,
} from '@vigil/test-kit';

const run = randomUUID().slice(0, 8);
const work = mkdtempSync(path.join(tmpdir(), 'vigil-restores-'));
const storeDir = path.join(work, 'store');
const policyFile = path.join(work, 'policies.yaml');
const id = (name: string) => `rs${run}-${name}`;
const agents = { db: id('db'), auth: id('auth'), web: id('web') };
const dataOf = (agentId: string) => path.join(work, 'agents', agentId);

interface PlanView {
  planId: string;
  status: string;
  steps: Array<{
    agentId: string;
    status: string;
    bytes: number;
    chain: Array<{ kind: string }>;
    estimateMs: number;
    missesRto: boolean;
    restoredAt: number | null;
    healthyAt: number | null;
    error: string | null;
  }>;
  rtoMisses: string[];
  estimateMs: number;
  stoppedBy: string | null;
  finishedAt: number | null;
  summary: { restored: string[]; failed: Array<{ agentId: string; error: string }>; notRestored: string[] };
  message?: string;
}

describe(
  'restore plans: dependencies and tiers, each step gated on health, stopped by a failure',
  { timeout: 300_000 },
  () => {
    const { kafka, codec, producer, close } = connectToInfra('restores-test');
    let orchestrator: RunningOrchestrator;
    let verified: TopicWatch<BackupVerified>;
    let results: TopicWatch<RestoreResult>;
    let connection: AgentConnection;
    let supervisor: AgentSupervisor;
    let backups: BackupRunner;
    let restores: RestoreRunner;
    let pump: NodeJS.Timeout;
    /** The tree of each agent at its newest backup. */
    const backedUp = new Map<string, Record<string, string>>();
    const group = `restores-test-${run}`;
    const orchestratorEnv = {
      BACKUP_POLICY_FILE: policyFile,
      BACKUP_STORE_DIR: storeDir,
      // db's estimate (5 s per step at least) misses a 2 s RTO; the other tiers have hours.
      RESTORE_RTO: '2s,1h,8h',
      RESTORE_PARALLELISM: '2',
      RESTORE_HEALTH_TIMEOUT_MS: '30000',
    };
    /** When db starts reporting `ok` again after a restore (it restarts slowly). */
    let dbHealthyFrom = Infinity;

    const status = (agentId: string): AgentReportedStatus =>
      agentId !== agents.db || Date.now() >= dbHealthyFrom ? 'ok' : 'starting';
    const backup = async (agentId: string, kind: 'full' | 'incremental') => {
      const before = verified.values((v) => v.agentId === agentId).length;
      const res = await orchestrator.api<{ jobId: string }>('POST', `/agents/${agentId}/backups`, {
        policyId: `files-${agentId}`,
        kind,
      });
      assert.equal(res.status, 202, JSON.stringify(res.body));
      await waitUntil(
        () => verified.values((v) => v.agentId === agentId).length > before,
        30_000,
        `${kind} of ${agentId}`,
      );
      const v = verified.values((x) => x.agentId === agentId).at(-1)!;
      assert.equal(v.verdict, 'verified', v.reason ?? '');
      assert.equal(v.kind, kind);
      backedUp.set(agentId, treeSnapshot(dataOf(agentId)));
    };
    const finished = async (planId: string, what: string) => {
      let plan: PlanView | undefined;
      await waitUntil(
        async () => {
          plan = (await orchestrator.api<PlanView>('GET', `/restore-plans/${planId}`)).body;
          return plan.finishedAt !== null;
        },
        120_000,
        what,
      );
      return plan!;
    };
    const seenAt = (agentId: string, st: string, planId: string): Seen<RestoreResult> | undefined =>
      results.seen.find((s) => s.value.agentId === agentId && s.value.status === st && s.value.planId === planId);

    before(async () => {
      for (const agentId of Object.values(agents)) {
        mkdirSync(path.join(dataOf(agentId), 'conf'), { recursive: true });
        writeFileSync(path.join(dataOf(agentId), 'conf', 'app.yaml'), `name: ${agentId}\n`);
        writeFileSync(path.join(dataOf(agentId), 'data.bin'), Buffer.alloc(50_000, agentId.length));
      }
      // One policy per agent: each backs up its own directory.
      writeFileSync(
        policyFile,
        `policies:\n${Object.values(agents)
          .map(
            (a) =>
              `  - id: files-${a}\n    selector: ['agent=${a}']\n    paths: ['${dataOf(a)}']\n    retention: { keepLast: 5 }\n`,
          )
          .join('')}`,
      );
      const registrations = [
        sampleRegistration({
          agentId: agents.db,
          host: id('host'),
          priorityTier: 0,
          dependencies: [],
          labels: { fleet: `rs${run}` },
        }),
        sampleRegistration({
          agentId: agents.auth,
          host: id('host'),
          priorityTier: 1,
          dependencies: [agents.db],
          labels: { fleet: `rs${run}` },
        }),
        sampleRegistration({
          agentId: agents.web,
          host: id('host'),
          priorityTier: 2,
          dependencies: [agents.auth],
          labels: { fleet: `rs${run}` },
        }),
        sampleRegistration({
          agentId: id('cyc-a'),
          host: id('host'),
          priorityTier: 0,
          dependencies: [id('cyc-b')],
          labels: {},
        }),
        sampleRegistration({
          agentId: id('cyc-b'),
          host: id('host'),
          priorityTier: 1,
          dependencies: [id('cyc-a')],
          labels: {},
        }),
      ].map((r) => ({ ...r, registeredAt: Date.now(), changedAt: Date.now() }));
      await producer.send(
        Topics.agentRegistry,
        registrations.map((value) => ({ value })),
      );

      orchestrator = await startOrchestrator(`restores-test-${run}`, {
        BACKUP_POLICY_FILE: policyFile,
        BACKUP_STORE_DIR: storeDir,
        // db's estimate (5 s per step at least) misses a 2 s RTO; the other tiers have hours.
        RESTORE_RTO: '2s,1h,8h',
        RESTORE_PARALLELISM: '2',
        RESTORE_HEALTH_TIMEOUT_MS: '30000',
      });
      verified = await watchTopic(kafka, codec, Topics.backupVerified, (v) => v.agentId.startsWith(`rs${run}`));
      results = await watchTopic(
        kafka,
        codec,
        Topics.restoreResults,
        (r) => r.agentId.startsWith(`rs${run}`),
        (r) => {
          // db comes back slowly: `starting` for 3 s after each restore, then `ok`.
          if (r.agentId === agents.db && r.status === 'succeeded') dbHealthyFrom = Date.now() + 3000;
        },
      );

      const env = infraEnv();
      connection = new AgentConnection({ brokers: env.brokers, registryUrl: env.registryUrl });
      const store = new FileSystemStore(storeDir);
      backups = new BackupRunner({ connection, store, allow: [work] });
      restores = new RestoreRunner({ connection, store, allow: [work], journalDir: path.join(work, 'journal') });
      supervisor = new AgentSupervisor({ connection, hostId: id('host') });
      for (const agentId of Object.values(agents))
        supervisor.register(agentId, { backup: backups.handler, restore: restores.handler });
      await supervisor.start();
      pump = setInterval(() => {
        const beats = Object.values(agents).map((agentId) => ({
          value: sampleHeartbeat(agentId, { host: id('host'), status: status(agentId), timestamp: Date.now() }),
        }));
        void producer.send(Topics.heartbeats, beats).catch(() => undefined);
      }, 250);
    });

    after(async () => {
      clearInterval(pump);
      await stopProcess(orchestrator.child);
      await supervisor.stop();
      await Promise.all([backups.idle(), restores.idle()]);
      await connection.close();
      await Promise.all([verified.stop(), results.stop()]);
      await close();
      rmSync(work, { recursive: true, force: true });
    });

    it('takes verified backups to restore from: db a full and an incremental, auth and web a full', async () => {
      await backup(agents.db, 'full');
      writeFileSync(path.join(dataOf(agents.db), 'conf', 'app.yaml'), 'name: db\nreplicas: 3\n');
      writeFileSync(path.join(dataOf(agents.db), 'wal.log'), 'wal\n');
      await backup(agents.db, 'incremental');
      await backup(agents.auth, 'full');
      await backup(agents.web, 'full');
    });

    it('the dry run orders db -> auth -> web, estimates each step, and says db would miss its RTO', async () => {
      const res = await orchestrator.api<PlanView>('POST', '/restore-plans', {
        selector: [`fleet=rs${run}`],
        targetDir: path.join(work, 'dry'),
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const plan = res.body;
      assert.equal(plan.status, 'draft');
      assert.deepEqual(
        plan.steps.map((s) => [s.agentId, s.chain.map((c) => c.kind).join('+')]),
        [
          [agents.db, 'full+incremental'],
          [agents.auth, 'full'],
          [agents.web, 'full'],
        ],
      );
      assert.ok(plan.steps.every((s) => s.bytes > 0 && s.estimateMs >= 5000));
      assert.deepEqual(plan.rtoMisses, [agents.db]);
      assert.ok(!existsSync(path.join(work, 'dry')), 'a dry run restores nothing');
    });

    it('refuses a dependency cycle, naming it', async () => {
      const res = await orchestrator.api<PlanView>('POST', '/restore-plans', { agents: [id('cyc-b'), id('cyc-a')] });
      assert.equal(res.status, 422);
      assert.equal(res.body.message, `dependency cycle: ${id('cyc-a')} -> ${id('cyc-b')} -> ${id('cyc-a')}`);
    });

    it('runs the plan in order, each step waiting until the agent before it reports healthy; the trees are the backed-up ones', async () => {
      const target = path.join(work, 'restored');
      const draft = (
        await orchestrator.api<PlanView>('POST', '/restore-plans', { selector: [`fleet=rs${run}`], targetDir: target })
      ).body;
      const started = await orchestrator.api<PlanView>('POST', `/restore-plans/${draft.planId}/run`);
      assert.equal(started.status, 202, JSON.stringify(started.body));
      const plan = await finished(draft.planId, 'the plan to finish');
      assert.equal(plan.status, 'succeeded', JSON.stringify(plan.summary));
      assert.deepEqual(plan.summary.restored, [agents.db, agents.auth, agents.web]);

      const p = draft.planId;
      // auth started only once db was healthy again (db said `starting` for 3 s after its restore).
      assert.ok(seenAt(agents.auth, 'running', p)!.receivedAt >= dbHealthyFrom, 'auth waited for db to be healthy');
      assert.ok(seenAt(agents.web, 'running', p)!.receivedAt > seenAt(agents.auth, 'succeeded', p)!.receivedAt);
      for (const s of plan.steps) assert.ok(s.healthyAt! >= s.restoredAt!, `${s.agentId}: healthy after its restore`);
      for (const agentId of Object.values(agents))
        assert.deepEqual(treeSnapshot(path.join(target, dataOf(agentId))), backedUp.get(agentId), agentId);
    });

    it('an orchestrator SIGKILLed mid-plan: its restart resumes the plan from Redis, each agent restored once', async () => {
      const target = path.join(work, 'restored-after-kill');
      const res = await orchestrator.api<PlanView>('POST', '/restore-plans', {
        selector: [`fleet=rs${run}`],
        targetDir: target,
        run: true,
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const p = res.body.planId;
      // Killed while db is restored and auth waits for db's health.
      await waitUntil(() => seenAt(agents.db, 'succeeded', p) !== undefined, 30_000, 'db restored');
      orchestrator.child.kill('SIGKILL');
      await orchestrator.exited;
      orchestrator = await startOrchestrator(group, orchestratorEnv);
      const plan = await finished(p, 'the plan to finish after the restart');
      assert.equal(plan.status, 'succeeded', JSON.stringify(plan.summary));
      for (const agentId of Object.values(agents)) {
        assert.equal(
          results.values((r) => r.planId === p && r.agentId === agentId && r.status === 'succeeded').length,
          1,
          `${agentId} restored once`,
        );
        assert.deepEqual(treeSnapshot(path.join(target, dataOf(agentId))), backedUp.get(agentId), agentId);
      }
    });

    it('a corrupted archive stops the plan: db restored, auth failed with the reason, web not started', async () => {
      const authFull = verified.values((v) => v.agentId === agents.auth).at(-1)!;
      const bytes = readFileSync(authFull.location!);
      bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
      writeFileSync(authFull.location!, bytes);
      const target = path.join(work, 'restored-2');
      const res = await orchestrator.api<PlanView>('POST', '/restore-plans', {
        selector: [`fleet=rs${run}`],
        targetDir: target,
        run: true,
      });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      const plan = await finished(res.body.planId, 'the plan to stop');
      assert.equal(plan.status, 'failed');
      assert.deepEqual(
        plan.steps.map((s) => [s.agentId, s.status]),
        [
          [agents.db, 'done'],
          [agents.auth, 'failed'],
          [agents.web, 'skipped'],
        ],
      );
      assert.match(
        plan.stoppedBy ?? '',
        new RegExp(`^${agents.auth}: refused: archive .* SHA-256 \\w+ is not the verified`),
      );
      assert.deepEqual(plan.summary.restored, [agents.db]);
      assert.deepEqual(plan.summary.notRestored, [agents.web]);
      assert.ok(existsSync(path.join(target, dataOf(agents.db))), 'db restored');
      assert.ok(!existsSync(path.join(target, dataOf(agents.auth))), 'nothing of auth restored');
      assert.equal(seenAt(agents.web, 'running', res.body.planId), undefined, 'web was never commanded');
    });
  },
);

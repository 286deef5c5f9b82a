// Two backup orchestrators in one group, one of them SIGKILLed mid-run and restarted: every
// schedule slot makes exactly one job per agent, and every job gets one verdict.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AgentConnection, AgentSupervisor, BackupRunner, FileSystemStore } from '@vigil/agent-sdk';
import { Topics, type AgentRegistration, type BackupCommand, type BackupVerified } from '@vigil/events';
import {
  connectToInfra,
  freePort,
  infraEnv,
  startService,
  stopProcess,
  waitServiceReady,
  waitUntil,
  watchTopic,
  type ServiceProcess,
  type TopicWatch,
} from '@vigil/test-kit';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const run = randomUUID().slice(0, 8);
const work = mkdtempSync(path.join(tmpdir(), 'vigil-bo-instances-'));
const data = path.join(work, 'data');
const storeDir = path.join(work, 'store');
const policyFile = path.join(work, 'policies.yaml');
const agents = [0, 1, 2].map((i) => `bi${run}-${i}`);
const SLOT_S = 2;

describe(
  'backup orchestrator: two instances and a SIGKILL, one job per slot, one verdict per job',
  { timeout: 240_000 },
  () => {
    const { kafka, codec, producer, close } = connectToInfra('backup-instances-test');
    const group = `backup-instances-${run}`;
    let verified: TopicWatch<BackupVerified>;
    let commands: TopicWatch<BackupCommand>;
    let connection: AgentConnection;
    let supervisor: AgentSupervisor;
    let runner: BackupRunner;
    const instances: ServiceProcess[] = [];

    const start = async () => {
      const port = await freePort();
      const p = startService('backup-orchestrator', {
        ...process.env,
        HTTP_PORT: String(port),
        CONSUMER_GROUP: group,
        BACKUP_POLICY_FILE: policyFile,
        BACKUP_STORE_DIR: storeDir,
        TICK_INTERVAL_MS: '100',
        MISFIRE_GRACE_MS: '1000',
        LOG_LEVEL: 'warn',
      });
      instances.push(p);
      await waitServiceReady(p, port, 60_000, 'an orchestrator');
      return p;
    };

    before(async () => {
      mkdirSync(data, { recursive: true });
      writeFileSync(path.join(data, 'f.txt'), 'x\n');
      writeFileSync(
        policyFile,
        `policies:
  - id: often
    selector: ['fleet=bi${run}']
    paths: ['${data}']
    incremental: { cron: '*/${SLOT_S} * * * * *' }
    retention: { keepLast: 3 }
    timeoutMs: 8000
    maxAttempts: 2
    retryBackoffMs: 200
`,
      );
      verified = await watchTopic(kafka, codec, Topics.backupVerified, (v) => v.agentId.startsWith(`bi${run}`));
      commands = await watchTopic(kafka, codec, Topics.backupCommands, (c) => c.agentId.startsWith(`bi${run}`));
      const now = Date.now();
      await producer.send(
        Topics.agentRegistry,
        agents.map((agentId) => ({
          key: agentId,
          value: {
            agentId,
            host: `bi${run}-host`,
            agentVersion: '1',
            priorityTier: 1,
            dependencies: [],
            labels: { fleet: `bi${run}` },
            intervalMs: 1000,
            missThreshold: 3,
            startPeriodMs: 0,
            bootId: 'b',
            registeredAt: now,
            changedAt: now,
          } satisfies AgentRegistration,
        })),
      );
      const env = infraEnv();
      connection = new AgentConnection({ brokers: env.brokers, registryUrl: env.registryUrl });
      runner = new BackupRunner({ connection, store: new FileSystemStore(storeDir), allow: [data], concurrency: 3 });
      supervisor = new AgentSupervisor({ connection, hostId: `bi${run}-host` });
      for (const a of agents) supervisor.register(a, { backup: runner.handler });
      await supervisor.start();
    });

    after(async () => {
      await Promise.all(instances.map((p) => stopProcess(p.child)));
      await supervisor.stop();
      await runner.idle();
      await connection.close();
      await Promise.all([verified.stop(), commands.stop()]);
      await close();
      rmSync(work, { recursive: true, force: true });
    });

    it('fires each slot once per agent across two instances and a SIGKILL, and decides each job once', async () => {
      const a = await start();
      await start();
      const from = Date.now();
      await sleep(8_000);
      a.child.kill('SIGKILL');
      await a.exited;
      await sleep(6_000);
      await start();
      await sleep(8_000);
      const until = Date.now();
      // Let the last jobs finish (or time out and be retried) before counting.
      await sleep(3_000);

      const slotOf = (jobId: string) => Date.parse(jobId.slice(jobId.indexOf('@') + 1));
      const jobs = new Set(commands.values().map((c) => c.jobId));
      const inWindow = [...jobs].filter((j) => slotOf(j) > from && slotOf(j) <= until - 1000);
      const slots = [...new Set(inWindow.map(slotOf))].sort();
      // Every slot of the window, none missing (one instance kept firing while the other was dead).
      const expected = Math.floor((until - 1000) / 1000 / SLOT_S) - Math.floor(from / 1000 / SLOT_S);
      assert.ok(slots.length >= expected - 1, `${slots.length} slots fired, about ${expected} expected`);
      for (const slot of slots) {
        const perAgent = inWindow.filter((j) => slotOf(j) === slot).map((j) => j.split('/')[1]);
        assert.deepEqual(
          perAgent.sort(),
          [...agents].sort(),
          `slot ${new Date(slot).toISOString()}: one job per agent`,
        );
      }
      // One command per attempt (a republished outbox entry would repeat it: allowed, but not here).
      const attempts = commands.values().map((c) => `${c.jobId}#${c.attempt}`);
      const repeats = attempts.length - new Set(attempts).size;
      console.log(`  ${jobs.size} jobs, ${slots.length} slots in the window, ${repeats} commands repeated`);

      await waitUntil(
        () => [...jobs].every((j) => verified.values((v) => v.jobId === j).length > 0),
        30_000,
        'a verdict for every job',
      );
      for (const j of jobs) {
        const distinct = new Set(verified.values((v) => v.jobId === j).map((v) => `${v.verdict}#${v.attempt}`));
        assert.equal(distinct.size, 1, `${j}: ${[...distinct].join(', ')}`);
      }
      const outcomes = verified.values().map((v) => v.verdict);
      assert.ok(
        outcomes.every((o) => o === 'verified' || o === 'timed_out'),
        outcomes.join(', '),
      );
    });
  },
);

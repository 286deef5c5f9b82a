// Backups in a real S3-compatible server (S3Proxy): the agent's archiver uploads through the AWS SDK,
// the orchestrator (a real process configured for the bucket) reads each object back to verify it.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { AgentConnection, AgentSupervisor, BackupRunner, S3Store } from '@vigil/agent-sdk';
import { Topics, type AgentRegistration, type BackupVerified } from '@vigil/events';
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

const run = randomUUID().slice(0, 8);
const work = mkdtempSync(path.join(tmpdir(), 'vigil-backups-s3-'));
const data = path.join(work, 'data');
const policyFile = path.join(work, 'policies.yaml');
const agentId = `s3${run}-agent`;
const bucket = `vigil-backups-${run}`;

describe(
  'backups in an S3-compatible store: full and incremental verified by the orchestrator',
  { timeout: 180_000 },
  () => {
    const { kafka, codec, producer, close } = connectToInfra('backups-s3-test');
    let orchestrator: ServiceProcess;
    let port: number;
    let verified: TopicWatch<BackupVerified>;
    let connection: AgentConnection;
    let supervisor: AgentSupervisor;
    let runner: BackupRunner;
    let store: S3Store;
    const s3 = {
      endpoint: process.env.S3_ENDPOINT,
      credentials: {
        accessKeyId: process.env.S3_ACCESS_KEY_ID ?? '',
        secretAccessKey: process.env.S3_SECRET_ACCESS_KEY ?? '',
      },
    };

    const backup = async (kind: 'full' | 'incremental') => {
      const res = await fetch(`http://127.0.0.1:${port}/agents/${agentId}/backups`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ policyId: 's3', kind }),
      });
      const { jobId } = (await res.json()) as { jobId: string };
      await waitUntil(() => verified.values((v) => v.jobId === jobId).length > 0, 30_000, `${kind} backup ${jobId}`);
      return verified.values((v) => v.jobId === jobId)[0]!;
    };

    before(async () => {
      assert.ok(s3.endpoint, 'S3_ENDPOINT is not set: run infra/up.sh (it starts S3Proxy)');
      mkdirSync(data, { recursive: true });
      writeFileSync(path.join(data, 'a.txt'), 'a\n');
      writeFileSync(path.join(data, 'b.txt'), 'b\n');
      writeFileSync(policyFile, `policies:\n  - id: s3\n    selector: ['fleet=s3${run}']\n    paths: ['${data}']\n`);
      verified = await watchTopic(kafka, codec, Topics.backupVerified, (v) => v.agentId === agentId);
      const now = Date.now();
      await producer.send(Topics.agentRegistry, [
        {
          key: agentId,
          value: {
            agentId,
            host: `s3${run}-host`,
            agentVersion: '1',
            priorityTier: 1,
            dependencies: [],
            labels: { fleet: `s3${run}` },
            intervalMs: 1000,
            missThreshold: 3,
            startPeriodMs: 0,
            bootId: 'b',
            registeredAt: now,
            changedAt: now,
          } satisfies AgentRegistration,
        },
      ]);
      port = await freePort();
      orchestrator = startService('backup-orchestrator', {
        ...process.env,
        HTTP_PORT: String(port),
        CONSUMER_GROUP: `backups-s3-${run}`,
        BACKUP_POLICY_FILE: policyFile,
        BACKUP_S3_BUCKET: bucket,
        BACKUP_S3_PREFIX: 'vigil/',
        TICK_INTERVAL_MS: '200',
      });
      await waitServiceReady(orchestrator, port, 60_000, 'the orchestrator');
      // The agent's side writes to the same bucket (the orchestrator created it).
      store = await S3Store.create({ bucket, prefix: 'vigil/', ...s3 });
      const env = infraEnv();
      connection = new AgentConnection({ brokers: env.brokers, registryUrl: env.registryUrl });
      runner = new BackupRunner({ connection, store, allow: [data] });
      supervisor = new AgentSupervisor({ connection, hostId: `s3${run}-host` });
      supervisor.register(agentId, { backup: runner.handler });
      await supervisor.start();
    });

    after(async () => {
      await stopProcess(orchestrator.child);
      await supervisor.stop();
      await runner.idle();
      await connection.close();
      await verified.stop();
      await close();
      rmSync(work, { recursive: true, force: true });
    });

    it('verifies a full and an incremental read back from the bucket, and fails one whose object was replaced', async () => {
      const full = await backup('full');
      assert.equal(full.verdict, 'verified', full.reason ?? '');
      assert.match(full.location!, new RegExp(`^s3://${bucket}/vigil/`));
      writeFileSync(path.join(data, 'b.txt'), 'b, changed\n');
      rmSync(path.join(data, 'a.txt'));
      const inc = await backup('incremental');
      assert.deepEqual([inc.kind, inc.verdict, inc.baseJobId], ['incremental', 'verified', full.jobId]);

      // The full's object replaced in the bucket: reading it back fails verification.
      const key = full.location!.slice(`s3://${bucket}/vigil/`.length);
      await store.put(key, Readable.from([Buffer.from('not the archive')]));
      const res = await fetch(`http://127.0.0.1:${port}/jobs/${encodeURIComponent(full.jobId)}/verify`, {
        method: 'POST',
      });
      const body = (await res.json()) as { status: string; verdict: BackupVerified };
      assert.equal(body.status, 'failed');
      assert.match(
        body.verdict.reason ?? '',
        /re-verification: the archive is 15 bytes in the store, the agent reported \d+/,
      );
    });
  },
);

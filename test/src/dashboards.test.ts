// The Grafana dashboards against a real Prometheus: the four services run as real processes and are
// scraped by the Prometheus of infra/prometheus.sh; a simulated fleet beats and changes state, some
// of its agents die and their heals fail (so heals, alerts and notifications happen), one agent is
// backed up and its backup verified, and one malformed record is dead-lettered. Then every panel's
// query of every dashboard in infra/grafana/dashboards must parse and return data: no blank panel.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AgentConnection, AgentPublisher, AgentSupervisor, BackupRunner } from '@vigil/agent-sdk';
import { FileSystemStore } from '@vigil/backup';
import { Topics } from '@vigil/events';
import { silentLogger } from '@vigil/kafka';
import {
  connectToInfra,
  freePort,
  infraEnv,
  promQuery,
  repoRoot,
  scrapeTarget,
  startFleet,
  startHeartbeat,
  startNotifier,
  startOrchestrator,
  startService,
  stopProcess,
  waitServiceReady,
  waitUntil,
  WebhookReceiver,
  type RunningFleet,
  type RunningHeartbeat,
  type RunningNotifier,
  type RunningOrchestrator,
  type ServiceProcess,
} from '@vigil/test-kit';

interface Panel {
  title: string;
  targets: Array<{ refId: string; expr: string }>;
}

const run = randomUUID().slice(0, 6);
const work = mkdtempSync(path.join(tmpdir(), 'vigil-dashboards-'));
const dashboardsDir = path.join(repoRoot, 'infra/grafana/dashboards');
const dashboards = readdirSync(dashboardsDir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => ({ file: f, ...(JSON.parse(readFileSync(path.join(dashboardsDir, f), 'utf8')) as { panels: Panel[] }) }));
const queries = dashboards.flatMap((d) =>
  d.panels.flatMap((p) => p.targets.map((t) => ({ where: `${d.file} / "${p.title}" / ${t.refId}`, expr: t.expr }))),
);

describe(
  'every dashboard panel parses and shows data from the real Prometheus after a fleet ran',
  { timeout: 300_000 },
  () => {
    const { producer, close } = connectToInfra('dashboards-test');
    const untarget: Array<() => void> = [];
    let receiver: WebhookReceiver;
    let heartbeat: RunningHeartbeat;
    let stateSync: ServiceProcess;
    let notifier: RunningNotifier;
    let orchestrator: RunningOrchestrator;
    let fleet: RunningFleet;
    let connection: AgentConnection;
    let agent: AgentPublisher;
    let supervisor: AgentSupervisor;

    before(async () => {
      assert.ok(dashboards.length >= 4 && queries.length > 0, 'the dashboards are in infra/grafana/dashboards');
      receiver = new WebhookReceiver(await freePort());
      await receiver.up();
      const notifierPolicy = path.join(work, 'notifier.yaml');
      writeFileSync(
        notifierPolicy,
        `heal: { maxAttempts: 1, timeoutMs: 5000 }
receivers:
  - { name: ops, url: "${receiver.url}" }
route: { group_by: [host], group_wait: 0s, group_interval: 1s }
`,
      );
      const data = path.join(work, 'data');
      mkdirSync(data);
      writeFileSync(path.join(data, 'state.db'), 'x'.repeat(64 * 1024));
      const backupPolicy = path.join(work, 'backups.yaml');
      writeFileSync(
        backupPolicy,
        `policies:
  - id: files
    selector: ['fleet=db${run}']
    paths: ['${data}']
    retention: { keepLast: 2 }
`,
      );
      const quiet = { LOG_LEVEL: 'warn' };
      const stateSyncPort = await freePort();
      stateSync = startService('state-sync', { ...process.env, ...quiet, HTTP_PORT: String(stateSyncPort) });
      [heartbeat, notifier, orchestrator] = await Promise.all([
        startHeartbeat(`db-heartbeat-${run}`, quiet, { ownAllPartitions: true }),
        startNotifier(`db-notifier-${run}`, {
          ...quiet,
          NOTIFIER_POLICY_FILE: notifierPolicy,
          SWEEP_INTERVAL_MS: '100',
        }),
        startOrchestrator(`db-orchestrator-${run}`, {
          ...quiet,
          BACKUP_POLICY_FILE: backupPolicy,
          BACKUP_STORE_DIR: path.join(work, 'store'),
        }),
        waitServiceReady(stateSync, stateSyncPort, 60_000, 'state-sync'),
      ]);
      untarget.push(
        scrapeTarget('heartbeat', heartbeat.port),
        scrapeTarget('state-sync', stateSyncPort),
        scrapeTarget('notifier', notifier.port),
        scrapeTarget('backup-orchestrator', orchestrator.port),
      );

      // The agent that is backed up: it beats (so it is registered, with the label its policy
      // selects) and its host's supervisor runs backup commands into a store of the test's own.
      const env = infraEnv();
      connection = new AgentConnection({ brokers: env.brokers, registryUrl: env.registryUrl });
      const agentId = `db${run}-agent`;
      supervisor = new AgentSupervisor({ connection, hostId: `db${run}-host`, logger: silentLogger });
      const runner = new BackupRunner({
        connection,
        store: new FileSystemStore(path.join(work, 'store')),
        allow: [data],
      });
      supervisor.register(agentId, { backup: runner.handler });
      await supervisor.start();
      agent = AgentPublisher.open({
        agentId,
        host: `db${run}-host`,
        connection,
        dataDir: path.join(work, 'agent'),
        heartbeat: { intervalMs: 1000, labels: { fleet: `db${run}` } },
        logger: silentLogger,
      });
      agent.startHeartbeats();

      // 40 agents changing state 50 times a second; 3 die after 5 s and every heal fails.
      fleet = startFleet({
        agents: 40,
        prefix: `db${run}f`,
        intervalMs: 1000,
        args: ['--state-change-rate', '50', '--heal-success', '0', '--at', '5 kill 3'],
      });
      await fleet.waitFor('started');
      await producer.sendRaw(Topics.stateChanges.name, [{ key: `db${run}-bad`, value: Buffer.from('not avro') }]);
      const backup = await orchestrator.api<{ jobId: string }>('POST', `/agents/${agentId}/backups`, {
        policyId: 'files',
        kind: 'full',
      });
      assert.equal(backup.status, 202);
      await waitUntil(
        async () =>
          (await orchestrator.api<{ backups: unknown[] }>('GET', `/agents/${agentId}/backups`)).body.backups.length > 0,
        60_000,
        'the backup to be verified',
      );
      await waitUntil(() => receiver.got.length > 0, 90_000, 'an alert notification for the dead agents');
    });

    after(async () => {
      for (const u of untarget) u();
      await fleet?.quit();
      await agent?.close(2000);
      await supervisor?.stop();
      await connection?.close();
      await Promise.all(
        [heartbeat, stateSync, notifier, orchestrator].filter((p) => p !== undefined).map((p) => stopProcess(p.child)),
      );
      await receiver?.down();
      await close();
      rmSync(work, { recursive: true, force: true });
    });

    it(`answers each of the ${queries.length} panel queries with data`, async () => {
      const blank = new Map(queries.map((q) => [q.where, 'not asked yet']));
      await waitUntil(
        async () => {
          for (const q of queries.filter((q) => blank.has(q.where))) {
            try {
              const samples = await promQuery(q.expr);
              if (samples.length > 0) blank.delete(q.where);
              else blank.set(q.where, `no data for ${q.expr}`);
            } catch (e) {
              // A query Prometheus cannot parse never gets better: fail at once, saying where.
              if ((e as Error).message.startsWith('bad_data')) throw new Error(`${q.where}: ${(e as Error).message}`);
              blank.set(q.where, (e as Error).message);
            }
          }
          return blank.size === 0;
        },
        120_000,
        'every panel to show data',
      ).catch((e: Error) => {
        throw new Error(`${e.message}; blank: ${[...blank].map(([w, why]) => `${w}: ${why}`).join('; ')}`);
      });
      assert.equal(blank.size, 0);
    });
  },
);

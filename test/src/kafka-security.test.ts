// Vigil on a Kafka that authenticates and authorizes: the secured node of infra/kafka-secure.sh
// (SASL on every client listener, SCRAM-SHA-512 users made by Kafka's StorageTool, TLS with a CA of
// its own, the StandardAuthorizer denying what no ACL allows). An administrator creates the topics
// and grants each principal the rights the catalogue says it needs; state-sync then runs as
// User:state-sync over SASL_SSL and an agent publishes as User:agent over SASL_PLAINTEXT. A service
// run with credentials that lack its rights stops with the broker's reason instead of hanging.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AgentConnection, AgentPublisher } from '@vigil/agent-sdk';
import { createKafkaClient, ensureTopics, grantRights, rightsOf, silentLogger } from '@vigil/kafka';
import {
  freePort,
  infraEnv,
  repoRoot,
  runScript,
  startService,
  stopProcess,
  waitServiceReady,
  waitUntil,
  type ServiceProcess,
} from '@vigil/test-kit';

const run = randomUUID().slice(0, 8);
const work = mkdtempSync(path.join(tmpdir(), 'vigil-kafka-security-'));

/** What infra/kafka-secure.sh wrote to .vigil/infra.env. */
function secureEnv(): { sasl: string; tls: string; ca: string; secrets: string } {
  const file = path.join(process.env.VIGIL_HOME ?? path.join(repoRoot, '.vigil'), 'infra.env');
  const env = Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  return {
    sasl: env.KAFKA_SECURE_SASL_BROKERS!,
    tls: env.KAFKA_SECURE_TLS_BROKERS!,
    ca: env.KAFKA_SECURE_CA_FILE!,
    secrets: env.KAFKA_SECURE_SECRETS!,
  };
}

describe('Vigil on a Kafka with SASL, TLS and ACLs', { timeout: 300_000 }, () => {
  let secure: ReturnType<typeof secureEnv>;
  const password = (user: string) => readFileSync(path.join(secure.secrets, user), 'utf8').trim();
  const started: ServiceProcess[] = [];
  let connection: AgentConnection;
  let agent: AgentPublisher;

  /** A service as `user` over SASL_SSL (SCRAM-SHA-512, the node's CA), on the main Redis and registry. */
  async function startAs(service: string, user: string, group: string) {
    const port = await freePort();
    const proc = startService(service, {
      ...process.env,
      HTTP_PORT: String(port),
      LOG_LEVEL: 'info',
      CONSUMER_GROUP: group,
      KAFKA_BROKERS: secure.tls,
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: user,
      KAFKA_SASL_PASSWORD_FILE: path.join(secure.secrets, user),
      KAFKA_TLS_CA_FILE: secure.ca,
    });
    started.push(proc);
    return { ...proc, port };
  }

  before(async () => {
    const up = runScript('infra/kafka-secure.sh', ['up'], process.env, 240_000);
    assert.equal(up.code, 0, `infra/kafka-secure.sh up failed: ${up.stderr.slice(-2000)}`);
    secure = secureEnv();
    // The administrator (PLAIN, super user): the topics, then each principal's rights.
    const admin = createKafkaClient({
      brokers: [secure.sasl],
      clientId: 'security-test-admin',
      logger: silentLogger,
      security: { sasl: { mechanism: 'plain', username: 'admin', password: password('admin') } },
    });
    await ensureTopics(admin, undefined, silentLogger);
    await grantRights(admin, 'state-sync', rightsOf('state-sync', `sec-sync-${run}`));
    await grantRights(admin, 'agent', rightsOf('agent', 'vigil-supervisor-'));
  });

  after(async () => {
    await agent?.close(1000);
    await connection?.close();
    for (const p of started) await stopProcess(p.child);
    // The secured node is this test's alone: stop it (its users, certificates and data stay for next time).
    runScript('infra/kafka-secure.sh', ['down'], process.env, 60_000);
    rmSync(work, { recursive: true, force: true });
  });

  it('runs state-sync as User:state-sync over SASL_SSL and applies what an agent publishes as User:agent', async () => {
    const stateSync = await startAs('state-sync', 'state-sync', `sec-sync-${run}`);
    await waitServiceReady(stateSync, stateSync.port, 90_000, 'state-sync on the secured broker');
    connection = new AgentConnection({
      brokers: [secure.sasl],
      registryUrl: infraEnv().registryUrl,
      logger: silentLogger,
      security: { sasl: { mechanism: 'scram-sha-512', username: 'agent', password: password('agent') } },
    });
    agent = AgentPublisher.open({ agentId: `sec${run}-agent`, connection, dataDir: work, logger: silentLogger });
    const entityId = `sec${run}-e1`;
    assert.ok(
      (await agent.publishStateChange({ id: entityId, type: 'service' }, 'created', { secured: true })).accepted,
    );
    await waitUntil(
      async () => (await fetch(`http://127.0.0.1:${stateSync.port}/entities/${entityId}`)).ok,
      60_000,
      'state-sync to apply the agent change',
    ).catch((e: Error) => {
      throw new Error(
        `${e.message}; agent: ${JSON.stringify(agent.stats())}; state-sync: ${stateSync.output().slice(-2000)}`,
      );
    });
  });

  it('stops a service whose principal lacks its rights, naming the authorization failure (no hang)', async () => {
    // heartbeat as User:state-sync: no READ on the heartbeats topic or its group, no WRITE on liveness.
    const heartbeat = await startAs('heartbeat', 'state-sync', `sec-hb-${run}`);
    const outcome = await Promise.race([
      heartbeat.exited.then((e) => ({ exited: e.code })),
      new Promise<{ exited: 'no' }>((r) => setTimeout(() => r({ exited: 'no' }), 90_000)),
    ]);
    const output = heartbeat.output();
    assert.notEqual(outcome.exited, 'no', `heartbeat still running after 90 s: ${output.slice(-2000)}`);
    assert.notEqual(outcome.exited, 0);
    assert.match(output, /not authorized|authorization failed|AUTHORIZATION_FAILED/i, output.slice(-2000));
  });
});

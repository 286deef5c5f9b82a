import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Topics, type TopicDef } from '@vigil/events';
import { createKafkaClient, ensureTopics } from '@vigil/kafka';
import { envWithout, freePort, isPortOpen, runScript, silentLogger, waitUntil } from '@vigil/test-kit';

const quiet = silentLogger;

// A private VIGIL_HOME and private ports: these tests start and stop their own broker and registry
// from nothing, and leave the suite's shared infra alone.
describe('infra scripts bring Kafka and the registry up from nothing and stop them cleanly', () => {
  const home = mkdtempSync(path.join(os.tmpdir(), 'vigil-infra-'));
  let env: NodeJS.ProcessEnv;
  let kafkaPort: number;
  let registryPort: number;

  before(async () => {
    kafkaPort = await freePort();
    registryPort = await freePort();
    env = envWithout(['KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL', 'REDIS_URL'], {
      VIGIL_HOME: home,
      KAFKA_PORT: String(kafkaPort),
      KAFKA_CONTROLLER_PORT: String(await freePort()),
      REGISTRY_PORT: String(registryPort),
      KAFKA_HEAP: '512m',
    });
  });

  after(() => {
    runScript('infra/registry.sh', ['down'], env);
    runScript('infra/kafka.sh', ['down'], env);
    rmSync(home, { recursive: true, force: true });
  });

  it('starts a KRaft broker that KafkaJS can use, and a second start is harmless', async () => {
    const first = runScript('infra/kafka.sh', ['up'], env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stderr, /formatting KRaft storage/);
    const again = runScript('infra/kafka.sh', ['up'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /already running/);
    assert.match(
      runScript('infra/kafka.sh', ['status'], env).stdout,
      new RegExp(`kafka: up .*127\\.0\\.0\\.1:${kafkaPort}`),
    );

    const kafka = createKafkaClient({ brokers: [`127.0.0.1:${kafkaPort}`], clientId: 'infra-test', logger: quiet });
    const created = await ensureTopics(kafka, [Topics.liveness as TopicDef<unknown>], quiet);
    assert.deepEqual(created.created, [Topics.liveness.name]);
    assert.match(
      readFileSync(path.join(home, 'infra.env'), 'utf8'),
      new RegExp(`KAFKA_BROKERS=127.0.0.1:${kafkaPort}`),
    );
  });

  it('starts Apicurio Registry serving the Confluent API, keeping schemas and ids across a restart', async () => {
    const up = runScript('infra/registry.sh', ['up'], env);
    assert.equal(up.code, 0, up.stderr);
    const url = `http://127.0.0.1:${registryPort}/apis/ccompat/v7`;
    const res = await fetch(`${url}/subjects/probe-value/versions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({
        schema: JSON.stringify({ type: 'record', name: 'P', fields: [{ name: 'a', type: 'string' }] }),
      }),
    });
    assert.equal(res.status, 200);
    const { id } = (await res.json()) as { id: number };
    assert.ok(id > 0);
    assert.equal(runScript('infra/registry.sh', ['up'], env).code, 0, 'a second start is harmless');
    assert.equal(runScript('infra/registry.sh', ['down'], env).code, 0);
    assert.equal(runScript('infra/registry.sh', ['up'], env).code, 0);
    // Node's fetch may reuse a pooled socket to the stopped process once; the next attempt connects anew.
    let again: { id: number } | undefined;
    await waitUntil(
      async () => {
        try {
          again = (await (await fetch(`${url}/subjects/probe-value/versions/latest`)).json()) as typeof again;
        } catch {
          again = undefined;
        }
        return again !== undefined;
      },
      10000,
      'the restarted registry',
    ).catch(() => undefined);
    assert.ok(again, 'the restarted registry answers');
    assert.equal(again.id, id, 'the schema and its id survived the restart');
  });

  it('refuses to start on a port another process holds, with one line naming the fix', async () => {
    const blocker = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const other = runScript('infra/kafka.sh', ['up'], {
        ...env,
        VIGIL_HOME: path.join(home, 'other'),
        KAFKA_PORT: String(port),
      });
      assert.equal(other.code, 1);
      const errors = other.stderr.split('\n').filter((l) => l.includes('ERROR'));
      assert.equal(errors.length, 1);
      assert.match(errors[0]!, new RegExp(`port ${port} is in use.*set KAFKA_PORT`));
    } finally {
      blocker.close();
    }
  });

  it('stops both cleanly: processes gone, ports closed, status says down', async () => {
    const reg = runScript('infra/registry.sh', ['down'], env);
    assert.equal(reg.code, 0, reg.stderr);
    assert.match(reg.stderr, /registry stopped/);
    const kafka = runScript('infra/kafka.sh', ['down'], env);
    assert.equal(kafka.code, 0, kafka.stderr);
    assert.match(kafka.stderr, /kafka stopped/);
    assert.doesNotMatch(kafka.stderr, /killing/, 'the broker stopped on SIGTERM, no SIGKILL needed');
    assert.equal(await isPortOpen(kafkaPort), false);
    assert.equal(await isPortOpen(registryPort), false);
    assert.notEqual(runScript('infra/kafka.sh', ['status'], env).code, 0);
    const log = readFileSync(path.join(home, 'kafka', 'logs', 'server.log'), 'utf8');
    assert.match(log, /shut down completed|shutting down/i);
  });
});

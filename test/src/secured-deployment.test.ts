// A service where secrets guard the backends: Redis with requirepass behind TLS (a CA this test
// makes with openssl; Debian's redis-server is built without TLS, so a TLS front of the test's own
// terminates it, as stunnel or a cloud Redis' proxy would), and the schema registry behind an HTTPS
// proxy that demands basic auth (Apicurio's own auth needs an OIDC server). state-sync takes its
// passwords from files (*_FILE), trusts the test's CA through NODE_EXTRA_CA_CERTS, works through
// both, refuses clearly when a password is wrong, and never writes a password to its log.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Topics } from '@vigil/events';
import {
  connectToInfra,
  freePort,
  startService,
  stopProcess,
  waitServiceReady,
  waitUntil,
  type ServiceProcess,
} from '@vigil/test-kit';

const run = randomUUID().slice(0, 8);
const work = mkdtempSync(path.join(tmpdir(), 'vigil-secured-'));
const file = (name: string, content: string) => {
  const p = path.join(work, name);
  writeFileSync(p, content, { mode: 0o600 });
  return p;
};
const redisPassword = `redis-${randomBytes(12).toString('hex')}`;
const registryPassword = `registry-${randomBytes(12).toString('hex')}`;
const upstreamRegistry = process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';

/** A CA and a server certificate for 127.0.0.1 signed by it, made with openssl. */
function makeCertificates(): { ca: string; cert: string; key: string } {
  const openssl = (...args: string[]) => {
    const r = spawnSync('openssl', args, { cwd: work, encoding: 'utf8' });
    assert.equal(r.status, 0, `openssl ${args[0]}: ${r.stderr}`);
  };
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=vigil-test-ca',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
  );
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
  );
  writeFileSync(path.join(work, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    'san.ext',
    '-out',
    'server.pem',
  );
  return { ca: path.join(work, 'ca.pem'), cert: path.join(work, 'server.pem'), key: path.join(work, 'server.key') };
}

/** A registry proxy that answers 401 without the right basic auth and forwards everything else. */
function authProxy(port: number, username: string, password: string, tls: { cert: string; key: string }) {
  const counts = { authorized: 0, refused: 0 };
  const expected = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  const server: Server = createHttpsServer({ cert: readFileSync(tls.cert), key: readFileSync(tls.key) }, (req, res) => {
    if (req.headers.authorization !== expected) {
      counts.refused += 1;
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="registry"' });
      res.end(JSON.stringify({ error_code: 401, message: 'Unauthorized' }));
      return;
    }
    counts.authorized += 1;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const upstream = `${upstreamRegistry.replace(/\/apis\/ccompat\/v7\/?$/, '')}${req.url}`;
      fetch(upstream, {
        method: req.method,
        headers: { 'content-type': req.headers['content-type'] ?? 'application/json', accept: 'application/json' },
        body: ['GET', 'HEAD'].includes(req.method!) ? undefined : Buffer.concat(chunks),
      }).then(
        async (r) => {
          res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/json' });
          res.end(Buffer.from(await r.arrayBuffer()));
        },
        (e: Error) => {
          res.writeHead(502);
          res.end(e.message);
        },
      );
    });
  });
  return {
    counts,
    url: `https://127.0.0.1:${port}/apis/ccompat/v7`,
    up: () => new Promise<void>((r) => server.listen(port, '127.0.0.1', r)),
    down: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe(
  'a service with secrets: Redis AUTH over TLS and registry basic auth, passwords from files',
  { timeout: 180_000 },
  () => {
    const { producer, close } = connectToInfra('secured-test');
    let redis: ChildProcess;
    let tlsFront: TlsServer;
    let redisPort: number;
    let certs: { ca: string; cert: string; key: string };
    let proxy: ReturnType<typeof authProxy>;
    const started: ServiceProcess[] = [];
    const logs: string[] = [];

    /** state-sync on this Redis and this registry proxy; its log is kept to be searched for secrets. */
    async function startStateSync(overrides: Record<string, string>) {
      const port = await freePort();
      const logFile = path.join(work, `state-sync-${started.length}.log`);
      logs.push(logFile);
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        HTTP_PORT: String(port),
        LOG_LEVEL: 'debug', // everything it would ever say, to be searched
        CONSUMER_GROUP: `secured-${run}-${started.length}`,
        REDIS_URL: `rediss://127.0.0.1:${redisPort}`,
        REDIS_TLS_CA_FILE: certs.ca,
        REDIS_PASSWORD_FILE: file('redis-password', `${redisPassword}\n`),
        SCHEMA_REGISTRY_URL: proxy.url,
        // The registry is served over TLS with the test's CA: Node's own variable for a CA of one's own.
        NODE_EXTRA_CA_CERTS: certs.ca,
        SCHEMA_REGISTRY_USERNAME: 'vigil',
        SCHEMA_REGISTRY_PASSWORD_FILE: file('registry-password', `${registryPassword}\n`),
        ...overrides,
      };
      delete env.REDIS_PASSWORD;
      delete env.SCHEMA_REGISTRY_PASSWORD;
      const proc = startService('state-sync', env, { logFile });
      started.push(proc);
      return { ...proc, port, logFile };
    }

    before(async () => {
      certs = makeCertificates();
      redisPort = await freePort();
      const plainPort = await freePort();
      // A password, nothing persisted, reachable only through the TLS front.
      redis = spawn(
        'redis-server',
        [
          '--port',
          String(plainPort),
          '--bind',
          '127.0.0.1',
          '--requirepass',
          redisPassword,
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          work,
        ],
        { stdio: 'ignore' },
      );
      tlsFront = createTlsServer({ cert: readFileSync(certs.cert), key: readFileSync(certs.key) }, (client) => {
        const upstream = connect(plainPort, '127.0.0.1');
        client.pipe(upstream).pipe(client);
        const close = () => (client.destroy(), upstream.destroy());
        client.on('error', close);
        upstream.on('error', close);
      });
      await new Promise<void>((r) => tlsFront.listen(redisPort, '127.0.0.1', r));
      proxy = authProxy(await freePort(), 'vigil', registryPassword, certs);
      await proxy.up();
    });

    after(async () => {
      for (const p of started) await stopProcess(p.child);
      redis?.kill('SIGTERM');
      await new Promise((r) => (tlsFront ? tlsFront.close(r) : r(undefined)));
      await proxy?.down();
      await close();
      rmSync(work, { recursive: true, force: true });
    });

    it('works through both: ready, and applies a state change into the TLS Redis', async () => {
      const svc = await startStateSync({});
      await waitServiceReady(svc, svc.port, 60_000, 'state-sync on the secured Redis and registry');
      assert.ok(proxy.counts.authorized > 0, 'the registry was reached with the credentials');
      assert.equal(proxy.counts.refused, 0);
      const entityId = `sec${run}-e1`;
      await producer.send(Topics.stateChanges, [
        {
          value: {
            eventId: randomUUID(),
            entityId,
            entityType: 'service',
            agentId: `sec${run}-agent`,
            eventType: 'created',
            version: 0,
            timestamp: Date.now(),
            payload: '{"secured":true}',
            checksum: null,
          },
        },
      ]);
      await waitUntil(
        async () => (await fetch(`http://127.0.0.1:${svc.port}/entities/${entityId}`)).ok,
        30_000,
        'the entity, read back from the TLS Redis',
      );
    });

    it('refuses a wrong registry password at start, saying the registry answered 401', async () => {
      const svc = await startStateSync({ SCHEMA_REGISTRY_PASSWORD_FILE: file('wrong-registry', 'not-it\n') });
      const { code } = await Promise.race([
        svc.exited,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('still running after 60 s')), 60_000)),
      ]);
      assert.notEqual(code, 0);
      assert.match(readFileSync(svc.logFile, 'utf8'), /registry answered 401/);
    });

    it('is not ready with a wrong Redis password, and says why on /health/ready (it keeps running)', async () => {
      const svc = await startStateSync({ REDIS_PASSWORD_FILE: file('wrong-redis', 'not-it\n') });
      let report = '';
      await waitUntil(
        async () => {
          if (svc.child.exitCode !== null)
            throw new Error(`state-sync exited: ${readFileSync(svc.logFile, 'utf8').slice(-1500)}`);
          const res = await fetch(`http://127.0.0.1:${svc.port}/health/ready`).catch(() => undefined);
          report = res ? await res.text() : '';
          return res?.status === 503 && /WRONGPASS|NOAUTH|invalid password/i.test(report);
        },
        60_000,
        'readiness to name the Redis auth failure',
      ).catch((e: Error) => {
        throw new Error(`${e.message}; last report: ${report}; log: ${readFileSync(svc.logFile, 'utf8').slice(-1500)}`);
      });
    });

    it('never writes a password to its log', () => {
      for (const log of logs) {
        const text = readFileSync(log, 'utf8');
        assert.ok(text.length > 0, `${log} is empty`);
        for (const secret of [redisPassword, registryPassword])
          assert.ok(!text.includes(secret), `${path.basename(log)} contains a password`);
      }
    });
  },
);

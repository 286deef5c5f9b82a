// The four services' HTTP APIs under hostile requests: malformed and huge path parameters, bad query
// strings, broken and oversized bodies, unknown routes and methods, and a flood. Every answer is a
// clear status below 500 (a 4xx where the request is at fault), and every service is still ready after.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { startHeartbeat, startNotifier, startOrchestrator, stopProcess, type ServiceProcess } from '@vigil/test-kit';
import { startStateSync } from './state-sync-harness';

type Route = [method: string, template: string];

/** Every route of every service's API (the controllers), with :id where a path parameter goes. */
const ROUTES: Record<string, Route[]> = {
  heartbeat: [
    ['GET', '/fleet'],
    ['GET', '/fleet/:id'],
  ],
  'state-sync': [
    ['GET', '/entities/:id'],
    ['GET', '/agents/:id/entities'],
  ],
  notifier: [
    ['GET', '/alerts'],
    ['GET', '/alerts/groups'],
    ['GET', '/silences'],
    ['POST', '/silences'],
    ['DELETE', '/silences/:id'],
    ['GET', '/agents/:id/heals'],
  ],
  'backup-orchestrator': [
    ['GET', '/policies'],
    ['GET', '/jobs'],
    ['GET', '/jobs/:id'],
    ['GET', '/agents/:id/backups'],
    ['POST', '/jobs/:id/verify'],
    ['POST', '/restore-plans'],
    ['POST', '/restore-plans/:id/run'],
    ['GET', '/restore-plans'],
    ['GET', '/restore-plans/:id'],
  ],
};

const HOSTILE_IDS = [
  '',
  'x'.repeat(300),
  'x'.repeat(100_000),
  '..%2F..%2Fetc%2Fpasswd',
  '%00',
  '%ff%fe',
  '%',
  'a%zz',
  '%3Cscript%3E',
  "'%20OR%201%3D1",
  '%F0%9D%94%98',
  '__proto__',
  'constructor',
];

const HOSTILE_QUERIES = [
  '?limit=-1',
  '?limit=abc',
  '?limit=1e309',
  '?limit=1&limit=2',
  '?state[$ne]=x',
  '?since=not-a-date',
  `?${'a=1&'.repeat(5000)}`,
  `?q=${'y'.repeat(10_000)}`,
];

const HOSTILE_BODIES: Array<{ type: string; body: string }> = [
  { type: 'application/json', body: 'not json' },
  { type: 'application/json', body: '{"a":' },
  { type: 'application/json', body: '[]' },
  { type: 'application/json', body: 'null' },
  { type: 'application/json', body: '{"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}}}' },
  { type: 'application/json', body: `${'['.repeat(5000)}${']'.repeat(5000)}` },
  { type: 'application/json', body: JSON.stringify({ big: 'z'.repeat(5 * 1024 * 1024) }) },
  { type: 'application/json', body: JSON.stringify({ matchers: 5, endsAt: 'never', agents: { a: 1 } }) },
  { type: 'text/plain', body: 'hello' },
];

/** The answer's status, or what went wrong on the wire (a reset is as bad as a 500). */
async function statusOf(url: string, init: RequestInit = {}): Promise<number | string> {
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
    await res.arrayBuffer();
    return res.status;
  } catch (e) {
    return `${(e as Error).message} ${(e as { cause?: Error }).cause?.message ?? ''}`.trim();
  }
}

describe('the HTTP APIs under hostile requests: a clear 4xx, never a 5xx, a reset or a crash', () => {
  const services = new Map<string, ServiceProcess & { port: number }>();
  const run = randomUUID().slice(0, 8);

  before(async () => {
    const [heartbeat, stateSync, notifier, orchestrator] = await Promise.all([
      startHeartbeat(`http-fuzz-hb-${run}`),
      startStateSync(),
      startNotifier(`http-fuzz-nt-${run}`),
      startOrchestrator(`http-fuzz-bo-${run}`),
    ]);
    services.set('heartbeat', heartbeat);
    services.set('state-sync', stateSync);
    services.set('notifier', notifier);
    services.set('backup-orchestrator', orchestrator);
  });
  after(async () => {
    await Promise.all([...services.values()].map((s) => stopProcess(s.child, 30_000)));
  });

  for (const name of Object.keys(ROUTES)) {
    it(`${name}: hostile paths, queries, bodies and methods each get a status below 500`, async () => {
      const service = services.get(name)!;
      const base = `http://127.0.0.1:${service.port}`;
      const answers: Array<[string, number | string]> = [];
      const ask = async (what: string, url: string, init?: RequestInit) =>
        answers.push([what, await statusOf(url, init)]);

      for (const [method, template] of ROUTES[name]!) {
        const paths = template.includes(':id') ? HOSTILE_IDS.map((id) => template.replace(':id', id)) : [template];
        for (const path of paths) {
          await ask(`${method} ${path.slice(0, 60)}`, `${base}${path}`, { method });
          for (const q of HOSTILE_QUERIES)
            await ask(`${method} ${path.slice(0, 40)}${q.slice(0, 30)}`, `${base}${path}${q}`, { method });
        }
        if (method === 'POST')
          for (const { type, body } of HOSTILE_BODIES)
            await ask(`${method} ${template} ${type} ${body.slice(0, 30)}`, `${base}${template.replace(':id', 'x')}`, {
              method,
              headers: { 'content-type': type },
              body,
            });
        for (const other of ['PUT', 'PATCH', 'DELETE', 'OPTIONS'].filter((m) => m !== method))
          await ask(`${other} ${template}`, `${base}${template.replace(':id', 'x')}`, { method: other });
      }
      for (const path of ['/nope', '/%', `/${'a'.repeat(20_000)}`, '/health/../metrics', '/metrics?name[]=x'])
        await ask(`GET ${path.slice(0, 40)}`, `${base}${path}`);
      await ask('GET with a 64 KB header', `${base}/health/live`, { headers: { 'x-junk': 'j'.repeat(64 * 1024) } });

      // A flood: 2,000 requests, 100 at a time, at the first route.
      const [floodMethod, floodTemplate] = ROUTES[name]!.find(([m]) => m === 'GET')!;
      const floodUrl = `${base}${floodTemplate.replace(':id', 'flood')}`;
      for (let i = 0; i < 2000; i += 100) {
        const batch = await Promise.all(Array.from({ length: 100 }, () => statusOf(floodUrl, { method: floodMethod })));
        batch.forEach((s) => answers.push([`flood ${floodTemplate}`, s]));
      }

      const bad = answers.filter(([, s]) => typeof s !== 'number' || s >= 500);
      assert.deepEqual(bad.slice(0, 15), [], `${bad.length} of ${answers.length} requests got a 5xx or no answer`);
      const statuses = new Map<number | string, number>();
      for (const [, s] of answers) statuses.set(s, (statuses.get(s) ?? 0) + 1);
      console.log(`${name}: ${answers.length} requests, statuses ${JSON.stringify(Object.fromEntries(statuses))}`);
      assert.equal(service.child.exitCode, null, `${name} is still running`);
      assert.equal(await statusOf(`${base}/health/ready`), 200, `${name} is still ready`);
      assert.equal(({} as Record<string, unknown>).polluted, undefined);
    });
  }
});

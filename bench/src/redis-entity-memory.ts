#!/usr/bin/env node
// Redis memory per entity kept by a real state-sync process: every key that names the entity
// (whatever the key layout of the version under test puts around its id) plus its share of the
// agent's entity index, next to the payload it holds. Layout-independent, so the same script
// measures an older checkout too.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import os from 'node:os';
import { mkdtempSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Topics, type StateChangeEvent } from '@vigil/events';
import { ensureTopics } from '@vigil/kafka';
import { entityKeys } from './latency-probe';
import { errorsToStderr, startService, stopProcess, waitUntil } from '@vigil/test-kit';
import Redis from 'ioredis';
import { benchClients, redisUrl } from './bench-clients';
import { skipToEnd } from './group-offsets';
import { writeReport } from './report';

const HELP = `redis-entity-memory: Redis bytes per entity kept by state-sync, beyond the payload.

Usage: node bench/dist/redis-entity-memory.js [--entities N] [--updates U] [--payload-bytes B]
  --entities N       entities per scenario (default 500)
  --updates U        updates per entity (default 60)
  --payload-bytes B  size of each payload (default 200)
Scenarios: U updates one second apart (a minute at 1/s), and U updates back to back, which stands
for one a minute over an hour: every id stays within a one-hour window either way.
Env: KAFKA_BROKERS, SCHEMA_REGISTRY_URL, REDIS_URL. Writes bench/results/redis-entity-memory.json.`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const { values } = parseArgs({
    options: {
      entities: { type: 'string', default: '500' },
      updates: { type: 'string', default: '60' },
      'payload-bytes': { type: 'string', default: '200' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return console.log(HELP);
  const entities = Number(values.entities);
  const updates = Number(values.updates);
  const payloadBytes = Number(values['payload-bytes']);
  const run = randomUUID().slice(0, 8);
  const { kafka, producer } = benchClients('bench');
  const redis = new Redis(redisUrl());
  await ensureTopics(kafka, undefined, errorsToStderr);

  // The group starts at the topic's end: only this run's events are applied.
  const group = `bench-mem-${run}`;
  await skipToEnd(kafka, group, Topics.stateChanges.name);
  const port = 3800 + Math.floor(Math.random() * 90);
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'vigil-mem-'));
  const { child } = startService(
    'state-sync',
    { ...process.env, HTTP_PORT: String(port), CONSUMER_GROUP: group, LOG_LEVEL: 'warn' },
    { logFile: path.join(logDir, 'state-sync.log') },
  );

  const payload = JSON.stringify({ pad: 'x'.repeat(Math.max(0, payloadBytes - 10)) });
  const scenarios: Record<string, unknown> = {};
  try {
    for (const [name, gapMs] of [
      ['1/s for a minute', 1000],
      ['back to back (as 1/min for an hour)', 0],
    ] as const) {
      const prefix = `bench-mem-${run}-${gapMs}`;
      console.log(`${name}: ${entities} entities x ${updates} updates`);
      for (let v = 1; v <= updates; v++) {
        const started = Date.now();
        const batch = Array.from({ length: entities }, (_, e) =>
          event(`${prefix}-e${e}`, `${prefix}-agent`, v, payload),
        );
        await producer.send(
          Topics.stateChanges,
          batch.map((value) => ({ value })),
        );
        if (gapMs) await sleep(Math.max(0, gapMs - (Date.now() - started)));
      }
      await waitUntil(
        async () =>
          (await redis.hget(
            entityKeys(`${prefix}-e${entities - 1}`).state(`${prefix}-e${entities - 1}`),
            'published',
          )) === String(updates),
        300000,
        `the last entity of ${name} to be published`,
      );
      await sleep(2000);
      scenarios[name] = await measure(redis, prefix, entities, payload.length);
      console.log(`  ${JSON.stringify(scenarios[name])}`);
    }
  } finally {
    await stopProcess(child, 30000);
    await producer.disconnect();
    redis.disconnect();
  }
  writeReport('redis-entity-memory', {
    entities,
    updates,
    payloadBytes: payload.length,
    scenarios,
    target: 'at most 1024 bytes per entity beyond its payload',
    logs: logDir,
  });
}

function event(entityId: string, agentId: string, version: number, payload: string): StateChangeEvent {
  return {
    eventId: randomUUID(),
    entityId,
    entityType: 'bench',
    agentId,
    eventType: 'updated',
    version,
    timestamp: Date.now(),
    payload,
    checksum: null,
  };
}

/** MEMORY USAGE of every key in each entity's slot tag, and the entity's share of its agent's index. */
async function measure(redis: Redis, prefix: string, entities: number, payloadLength: number) {
  // Every key naming this run's entities or agent, whatever the layout puts around the ids.
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `*${prefix}-*`, 'COUNT', 10000);
    cursor = next;
    keys.push(...found);
  } while (cursor !== '0');
  const perKind = new Map<string, number>();
  let total = 0;
  let index = 0;
  for (const key of keys) {
    const bytes = Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
    if (key.includes(`${prefix}-agent`)) {
      index += bytes;
      continue;
    }
    const kind = key.slice(key.lastIndexOf(':') + 1);
    perKind.set(kind, (perKind.get(kind) ?? 0) + bytes);
    total += bytes;
  }
  const perEntity = (total + index) / entities;
  return {
    bytesPerEntity: Math.round(perEntity),
    payloadBytes: payloadLength,
    beyondPayload: Math.round(perEntity - payloadLength),
    byKey: Object.fromEntries([...perKind].map(([k, b]) => [k, Math.round(b / entities)])),
    agentIndexShare: Math.round(index / entities),
  };
}

main().catch((e: Error) => {
  console.error(`bench failed: ${e.message}`);
  process.exit(1);
});

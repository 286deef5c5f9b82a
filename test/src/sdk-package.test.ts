// The agent SDK installed as an agent author outside this repo installs it: from one tarball, into
// an empty project, with no @vigil/* name looked up on a registry; then it publishes one event.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Topics } from '@vigil/events';
import { ensureTopics, highWatermarks, readPartitionRanges } from '@vigil/kafka';
import { connectToInfra, installSdkFromTarball, silentLogger, type InstalledSdk } from '@vigil/test-kit';

describe('the agent SDK as a package', { timeout: 300_000 }, () => {
  const infra = connectToInfra('sdk-package-test');
  let sdk: InstalledSdk;

  before(async () => {
    await ensureTopics(infra.kafka, undefined, silentLogger);
    sdk = installSdkFromTarball();
  });
  after(async () => {
    await infra.close();
    if (sdk) rmSync(path.dirname(sdk.dir), { recursive: true, force: true });
  });

  it('installs from its tarball without looking up any @vigil/* name on a registry', () => {
    assert.doesNotMatch(sdk.npmLog, /127\.0\.0\.1:9\//, 'npm asked the (dead) @vigil registry for something');
    assert.ok(existsSync(path.join(sdk.dir, 'node_modules/@vigil/agent-sdk/dist/index.d.ts')), 'types ship with it');
  });

  it('brings no service framework, no rxjs and no metrics library into the agent', () => {
    for (const heavy of ['@nestjs/core', '@nestjs/common', 'rxjs', 'prom-client', 'pino', 'ioredis'])
      assert.equal(existsSync(path.join(sdk.dir, 'node_modules', heavy)), false, `${heavy} was installed`);
  });

  it('publishes one state change from a plain Node program that requires it', async () => {
    const entityId = `sdk-pkg-${randomUUID().slice(0, 8)}`;
    const from = await highWatermarks(infra.kafka, Topics.stateChanges.name);
    writeFileSync(
      path.join(sdk.dir, 'agent.js'),
      `const { AgentPublisher } = require('@vigil/agent-sdk');
const os = require('node:os');
const path = require('node:path');
const fs = require('node:fs');
(async () => {
  const agent = AgentPublisher.open({
    agentId: 'pkg-agent',
    dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'pkg-agent-')),
    brokers: process.env.KAFKA_BROKERS.split(','),
    registryUrl: process.env.SCHEMA_REGISTRY_URL,
  });
  const receipt = await agent.publishStateChange({ id: process.argv[2], type: 'config' }, 'created', { replicas: 3 });
  for (let i = 0; i < 300 && agent.stats().pending > 0; i++) await new Promise((r) => setTimeout(r, 100));
  await agent.close();
  console.log(JSON.stringify({ receipt, stats: agent.stats() }));
})();
`,
    );
    const run = spawnSync(process.execPath, ['agent.js', entityId], { cwd: sdk.dir, encoding: 'utf8', timeout: 60000 });
    assert.equal(run.status, 0, run.stderr);
    const { receipt, stats } = JSON.parse(run.stdout.trim().split('\n').at(-1)!) as {
      receipt: { accepted: boolean; eventId: string; version: number };
      stats: { delivered: number };
    };
    assert.equal(receipt.accepted, true);
    assert.equal(receipt.version, 1);
    assert.equal(stats.delivered, 1);

    const ends = await highWatermarks(infra.kafka, Topics.stateChanges.name);
    const found: string[] = [];
    await readPartitionRanges(
      infra.kafka,
      Topics.stateChanges.name,
      [...ends].map(([partition, to]) => ({ partition, from: from.get(partition) ?? 0n, to })),
      async (_, m) => {
        if (m.key?.toString() !== entityId) return;
        const d = await infra.codec.decode(Topics.stateChanges, m.value);
        if (d.ok) found.push(d.value.eventId);
      },
    );
    assert.deepEqual(found, [receipt.eventId], 'the event is on the topic, once');
  });
});

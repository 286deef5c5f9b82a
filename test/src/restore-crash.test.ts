// A host supervisor SIGKILLed in the middle of a restore, as a real process: after its restart the
// restored directory holds the old tree or the new one, never a mix, and the interrupted restore is
// reported (completed or rolled back by the recovery) on vigil.restore.results.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FileSystemStore, writeArchive, type ArchiveOutcome } from '@vigil/backup';
import { Topics, type RestoreCommand, type RestoreResult } from '@vigil/events';
import { ensureTopics, silentLogger } from '@vigil/kafka';
import { connectToInfra, treeSnapshot, waitUntil, watchTopic, type TopicWatch } from '@vigil/test-kit';

const run = randomUUID().slice(0, 8);
const work = mkdtempSync(path.join(tmpdir(), 'vigil-restore-crash-'));
const live = path.join(work, 'app');
const store = new FileSystemStore(path.join(work, 'store'));
const journal = path.join(work, 'journal');
const agentId = `rc${run}-agent`;
const host = `rc${run}-host`;

/** The tree the backup holds: many small files, so extracting it takes long enough to be interrupted. */
function writeBackedUpTree(): void {
  rmSync(live, { recursive: true, force: true });
  for (let d = 0; d < 20; d++) {
    mkdirSync(path.join(live, `d${d}`), { recursive: true });
    for (let f = 0; f < 100; f++)
      writeFileSync(path.join(live, `d${d}`, `f${f}.txt`), `backed up ${d}/${f}\n`.repeat(50));
  }
  writeFileSync(path.join(live, 'config.yaml'), 'version: 1\n');
}

/** The tree live when the restore starts (what it replaces): fewer files, different content. */
function writeLiveTree(): void {
  rmSync(live, { recursive: true, force: true });
  mkdirSync(path.join(live, 'd0'), { recursive: true });
  writeFileSync(path.join(live, 'd0', 'f0.txt'), 'changed after the backup\n');
  writeFileSync(path.join(live, 'config.yaml'), 'version: 2\n');
  writeFileSync(path.join(live, 'new-since.log'), 'not in the backup\n');
}

interface Host {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  exited: Promise<NodeJS.Signals | null>;
}

function startHost(crashAt?: string): Host {
  const args = ['--agent-id', agentId, '--host', host, '--store', store.root, '--allow', work, '--journal', journal];
  const child = spawn(
    process.execPath,
    [path.join(__dirname, 'fixtures', 'restore-host.js'), ...args, ...(crashAt ? ['--crash-at', crashAt] : [])],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: process.env,
    },
  );
  const lines: Array<Record<string, unknown>> = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      lines.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
      buf = buf.slice(i + 1);
    }
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_c, signal) => resolve(signal)));
  return { child, lines, exited };
}

const ready = (h: Host) => waitUntil(() => h.lines.some((l) => l.ready), 60_000, 'the host supervisor to start');
const leftovers = () => readdirSync(work).filter((n) => n.includes('.vigil-'));

describe(
  'a restore interrupted by SIGKILL: old tree or new tree after the restart, never a mix',
  { timeout: 240_000 },
  () => {
    const { kafka, codec, producer, close } = connectToInfra('restore-crash-test');
    let backup: ArchiveOutcome;
    let backedUp: Record<string, string>;
    let results: TopicWatch<RestoreResult>;
    const hosts: Host[] = [];

    const command = (attempt: number): RestoreCommand => ({
      restoreId: `rc${run}/${agentId}`,
      planId: `rc${run}`,
      agentId,
      chain: [
        {
          jobId: backup.manifest.jobId,
          kind: 'full',
          location: backup.location,
          manifestLocation: backup.manifestLocation,
          sizeBytes: backup.sizeBytes,
          sha256: backup.sha256,
        },
      ],
      targetDir: null,
      attempt,
      requestedAt: Date.now(),
      timeoutMs: 60_000,
    });

    before(async () => {
      writeBackedUpTree();
      backup = await writeArchive({
        jobId: `j${run}`,
        agentId,
        kind: 'full',
        paths: [live],
        allow: [work],
        store,
        key: `${agentId}/full`,
      });
      backedUp = treeSnapshot(live);
      // On a fresh broker no service may have created the command topics yet: create them as one would.
      await ensureTopics(kafka, undefined, silentLogger);
      results = await watchTopic(kafka, codec, Topics.restoreResults, (r) => r.agentId === agentId);
    });

    after(async () => {
      for (const h of hosts) if (h.child.exitCode === null && h.child.signalCode === null) h.child.kill('SIGKILL');
      await results.stop();
      await close();
      rmSync(work, { recursive: true, force: true });
    });

    it('killed after the old tree moved aside and before the new one went in: the restart completes the swap', async () => {
      writeLiveTree();
      const crashing = startHost('old-moved');
      hosts.push(crashing);
      await ready(crashing);
      await producer.send(Topics.restoreCommands, [{ value: command(1) }]);
      assert.equal(await crashing.exited, 'SIGKILL');
      assert.deepEqual(
        readdirSync(work).filter((n) => n === 'app'),
        [],
        'the moment of the kill: nothing at the destination, the new tree staged beside it',
      );

      const restarted = startHost();
      hosts.push(restarted);
      await ready(restarted);
      assert.deepEqual(treeSnapshot(live), backedUp, 'the new tree, whole');
      assert.deepEqual(leftovers(), []);
      await waitUntil(
        () => results.values((r) => r.recovered && r.attempt === 1).length > 0,
        30_000,
        'the recovered result',
      );
      const recovered = results.values((r) => r.recovered && r.attempt === 1)[0]!;
      assert.equal(recovered.status, 'succeeded');
      restarted.child.kill('SIGTERM');
      await restarted.exited;
    });

    it('killed while extracting (from outside, as the OOM killer would): the restart keeps the old tree', async () => {
      writeLiveTree();
      const liveTree = treeSnapshot(live);
      const victim = startHost();
      hosts.push(victim);
      await ready(victim);
      await producer.send(Topics.restoreCommands, [{ value: command(2) }]);
      await waitUntil(
        () => leftovers().some((n) => n.includes('.vigil-restore-')),
        30_000,
        'the staging tree to appear',
      );
      victim.child.kill('SIGKILL');
      await victim.exited;

      const restarted = startHost();
      hosts.push(restarted);
      await ready(restarted);
      const recovered = restarted.lines.find((l) => l.recovered)?.recovered as RestoreResult | undefined;
      assert.ok(recovered, 'the interrupted restore was found in the journal');
      // Killed while staging (extraction is most of a restore): rolled back, the old tree stays.
      assert.equal(recovered.status, 'failed');
      assert.deepEqual(treeSnapshot(live), liveTree, 'the old tree, untouched');
      assert.match(recovered.error ?? '', /interrupted before its swap/);
      assert.deepEqual(leftovers(), []);
      restarted.child.kill('SIGTERM');
      await restarted.exited;
    });
  },
);

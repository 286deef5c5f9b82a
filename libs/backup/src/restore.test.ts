// Restores of real archives from a real directory store onto real files: byte-exact trees, a
// refused chain touches nothing, an interrupted swap is finished or undone by recovery.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { Readable } from 'node:stream';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { readManifest, writeArchive, type ArchiveOutcome } from './archive';
import { restoreChain, RestoreRefused, type ChainArchive } from './restore';
import { FileSystemStore } from './store';
import { SwapJournal } from './swap-journal';

const work = mkdtempSync(path.join(tmpdir(), 'vigil-restore-'));
const data = path.join(work, 'data');
const store = new FileSystemStore(path.join(work, 'store'));
const journal = new SwapJournal(path.join(work, 'journal'));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Everything about a tree a restore must reproduce: type, mode, content or target, mtime. */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (p: string, rel: string) => {
    const s = lstatSync(p);
    const mtime = Math.round(s.mtimeMs);
    if (s.isSymbolicLink()) out[rel] = `symlink -> ${readlinkSync(p)} @${mtime}`;
    else if (s.isDirectory()) {
      out[rel] = `dir ${(s.mode & 0o7777).toString(8)} @${mtime}`;
      for (const name of readdirSync(p).sort()) visit(path.join(p, name), path.join(rel, name));
    } else out[rel] = `file ${(s.mode & 0o7777).toString(8)} ${sha(readFileSync(p))} @${mtime}`;
  };
  visit(root, '.');
  return out;
}

/** Sets an mtime in the past, so a later change is seen by the next incremental. */
const age = (file: string) => utimesSync(file, Date.now() / 1000 - 120, Date.now() / 1000 - 120);
const chainOf = (...outs: ArchiveOutcome[]): ChainArchive[] =>
  outs.map((o) => ({ location: o.location, manifestLocation: o.manifestLocation, sha256: o.sha256 }));
/** Leftover staging or old trees beside a destination. */
const leftovers = (dir: string) => readdirSync(dir).filter((n) => n.includes('.vigil-'));

describe('restores: a chain of archives applied in order, verified first, swapped into place crash-safely', () => {
  after(() => rmSync(work, { recursive: true, force: true }));
  mkdirSync(path.join(data, 'conf'), { recursive: true });
  mkdirSync(path.join(data, 'logs'));
  writeFileSync(path.join(data, 'conf', 'app.yaml'), 'port: 8080\n');
  writeFileSync(path.join(data, 'db.bin'), Buffer.alloc(400_000, 3));
  writeFileSync(path.join(data, 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o750 });
  writeFileSync(path.join(data, 'logs', 'old.log'), 'old\n');
  symlinkSync('conf/app.yaml', path.join(data, 'current'));
  chmodSync(path.join(data, 'conf'), 0o700);
  const request = { agentId: 'a1', paths: [data], allow: [work], store };
  const snapshots: Array<Record<string, string>> = [];
  const outs: ArchiveOutcome[] = [];

  it('takes a full and two incrementals of a changing tree (the fixture the restores below use)', async () => {
    for (const f of ['conf/app.yaml', 'db.bin', 'run.sh', 'logs/old.log', 'logs', 'conf', '.']) age(path.join(data, f));
    outs.push(await writeArchive({ ...request, jobId: 'j1', kind: 'full', key: 'a1/j1' }));
    snapshots.push(snapshot(data));
    // First incremental: a file rewritten, one added, one deleted, a mode changed.
    writeFileSync(path.join(data, 'conf', 'app.yaml'), 'port: 9090\n');
    writeFileSync(path.join(data, 'new.txt'), 'new\n');
    rmSync(path.join(data, 'logs', 'old.log'));
    chmodSync(path.join(data, 'run.sh'), 0o700);
    outs.push(
      await writeArchive({
        ...request,
        jobId: 'j2',
        kind: 'incremental',
        key: 'a1/j2',
        base: await readManifest(store, outs[0]!.manifestLocation),
      }),
    );
    snapshots.push(snapshot(data));
    // Second: a directory replaced by a file, a new nested directory, a file deleted.
    rmSync(path.join(data, 'logs'), { recursive: true });
    writeFileSync(path.join(data, 'logs'), 'now a file\n');
    mkdirSync(path.join(data, 'cache', 'deep'), { recursive: true });
    writeFileSync(path.join(data, 'cache', 'deep', 'x.bin'), Buffer.alloc(70_000, 9));
    rmSync(path.join(data, 'new.txt'));
    outs.push(
      await writeArchive({
        ...request,
        jobId: 'j3',
        kind: 'incremental',
        key: 'a1/j3',
        base: await readManifest(store, outs[1]!.manifestLocation),
      }),
    );
    snapshots.push(snapshot(data));
    assert.equal(outs.length, 3);
  });

  it('full + two incrementals into an empty directory: the tree at the last backup, byte for byte, modes and mtimes', async () => {
    const target = path.join(work, 'into-last');
    const out = await restoreChain({
      restoreId: 'r-last',
      chain: chainOf(...outs),
      store,
      allow: [work],
      targetDir: target,
      journal,
    });
    assert.deepEqual(snapshot(path.join(target, data)), snapshots[2]);
    assert.deepEqual(out.destinations, [path.join(target, data)]);
    assert.equal(out.fileCount, Object.keys(snapshots[2]!).length);
    assert.ok(
      out.bytes >= 2 * outs.reduce((n, o) => n + o.sizeBytes, 0),
      'each archive read to check it, then to extract',
    );
    assert.deepEqual(leftovers(path.dirname(path.join(target, data))), []);
    assert.deepEqual(readdirSync(journal.dir), [], 'the journal entry is gone once swapped');
  });

  it('full + the first incremental: the tree at the first incremental (files deleted later are back)', async () => {
    const target = path.join(work, 'into-first');
    await restoreChain({
      restoreId: 'r-first',
      chain: chainOf(outs[0]!, outs[1]!),
      store,
      allow: [work],
      targetDir: target,
      journal,
    });
    assert.deepEqual(snapshot(path.join(target, data)), snapshots[1]);
  });

  it('in place: the live tree is replaced as a whole, nothing left beside it', async () => {
    writeFileSync(path.join(data, 'stray.tmp'), 'written after the last backup\n');
    writeFileSync(path.join(data, 'conf', 'app.yaml'), 'broken\n');
    await restoreChain({
      restoreId: 'r-inplace',
      chain: chainOf(...outs),
      store,
      allow: [work],
      targetDir: null,
      journal,
    });
    assert.deepEqual(snapshot(data), snapshots[2]);
    assert.deepEqual(leftovers(work), []);
  });

  it('a checksum mismatch in one archive of the chain: refused, nothing touched', async () => {
    const target = path.join(work, 'into-last'); // holds the restored tree from above
    const before = snapshot(path.join(target, data));
    const corrupt = `${outs[1]!.location}.corrupt`;
    copyFileSync(outs[1]!.location, corrupt);
    const bytes = readFileSync(corrupt);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    writeFileSync(corrupt, bytes);
    const chain = chainOf(...outs);
    chain[1] = { ...chain[1]!, location: corrupt };
    await assert.rejects(
      restoreChain({ restoreId: 'r-corrupt', chain, store, allow: [work], targetDir: target, journal }),
      (e: unknown) =>
        e instanceof RestoreRefused && /a1\/j2\.tar\.gz\.corrupt: SHA-256 \w+ is not the verified/.test(e.message),
    );
    assert.deepEqual(snapshot(path.join(target, data)), before);
    assert.deepEqual(leftovers(path.dirname(path.join(target, data))), []);
    assert.deepEqual(readdirSync(journal.dir), []);
  });

  it('refuses a chain out of order, a manifest naming a path outside its roots, or a destination outside the allow-list, touching nothing', async () => {
    await assert.rejects(
      restoreChain({
        restoreId: 'r-order',
        chain: chainOf(outs[1]!),
        store,
        allow: [work],
        targetDir: path.join(work, 'x'),
        journal,
      }),
      /starts with incremental j2, not a full/,
    );
    await assert.rejects(
      restoreChain({
        restoreId: 'r-skip',
        chain: chainOf(outs[0]!, outs[2]!),
        store,
        allow: [work],
        targetDir: path.join(work, 'x'),
        journal,
      }),
      /incremental j3 does not build on j1/,
    );
    await assert.rejects(
      restoreChain({
        restoreId: 'r-out',
        chain: chainOf(...outs),
        store,
        allow: [path.join(work, 'only-here')],
        targetDir: null,
        journal,
      }),
      (e: unknown) => e instanceof RestoreRefused && /outside the agent's allow-list/.test(e.message),
    );
    // A manifest (tampered with, or written by a hostile agent) that names a path outside its roots.
    const m = await readManifest(store, outs[0]!.manifestLocation);
    const forged = await store.put(
      'a1/forged.manifest.json',
      Readable.from([JSON.stringify({ ...m, entries: [...m.entries, { ...m.entries[1]!, path: '/etc/cron.d/x' }] })]),
    );
    await assert.rejects(
      restoreChain({
        restoreId: 'r-forged',
        chain: [{ ...chainOf(outs[0]!)[0]!, manifestLocation: forged.location }],
        store,
        allow: [work],
        targetDir: path.join(work, 'x'),
        journal,
      }),
      (e: unknown) =>
        e instanceof RestoreRefused && /entry \/etc\/cron.d\/x of j1 lies outside its roots/.test(e.message),
    );
    symlinkSync('/etc', path.join(work, 'escape'));
    await assert.rejects(
      restoreChain({
        restoreId: 'r-link',
        chain: chainOf(...outs),
        store,
        allow: [work],
        targetDir: path.join(work, 'escape'),
        journal,
      }),
      /outside the agent's allow-list/,
      'a target reached through a symlink is judged where it leads',
    );
    assert.ok(!existsSync(path.join(work, 'x')));
  });

  /**
   * Restores the full into `target` (the old tree), then the whole chain over it, stopped at `phase`
   * as a crash would stop it (nothing after that point runs). Returns the destination.
   */
  async function interruptedAt(phase: 'staged' | 'old-moved', restoreId: string, target: string): Promise<string> {
    await restoreChain({
      restoreId: `${restoreId}-old`,
      chain: chainOf(outs[0]!),
      store,
      allow: [work],
      targetDir: target,
      journal,
    });
    const crash = new Error('crash');
    await assert.rejects(
      restoreChain({
        restoreId,
        chain: chainOf(...outs),
        store,
        allow: [work],
        targetDir: target,
        journal,
        meta: { attempt: 1 },
        onPhase: (p) => {
          if (p === phase) throw crash;
        },
      }),
      (e) => e === crash,
    );
    return path.join(target, data);
  }

  it('interrupted before the swap (staging written): recovery removes the staging tree, the old tree stays', async () => {
    const dest = await interruptedAt('staged', 'r-crash1', path.join(work, 'crash-staged'));
    assert.equal(leftovers(path.dirname(dest)).length, 1, 'the staging tree, as a crash leaves it');
    assert.deepEqual(await journal.recover(), [
      { restoreId: 'r-crash1', meta: { attempt: 1 }, outcome: 'rolled_back' },
    ]);
    assert.deepEqual(snapshot(dest), snapshots[0]);
    assert.deepEqual(leftovers(path.dirname(dest)), []);
  });

  it('interrupted mid-swap (old tree moved aside, new not yet in): recovery completes the swap', async () => {
    const dest = await interruptedAt('old-moved', 'r-crash2', path.join(work, 'crash-swap'));
    assert.ok(!existsSync(dest), 'the moment of the crash: no tree at the destination');
    assert.deepEqual(await journal.recover(), [{ restoreId: 'r-crash2', meta: { attempt: 1 }, outcome: 'completed' }]);
    assert.deepEqual(snapshot(dest), snapshots[2]);
    assert.deepEqual(leftovers(path.dirname(dest)), []);
    assert.deepEqual(await journal.recover(), [], 'recovery is done once');
  });
});

// Archives written to a real directory store from real files on disk, read back with a tar reader.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { createGunzip } from 'node:zlib';
import { extract } from 'tar-stream';
import { BackupRefused, readManifest, writeArchive } from './archive';
import { digestOf } from './digest';
import { MANIFEST_ENTRY } from './manifest';
import { FileSystemStore } from './store';

const work = mkdtempSync(path.join(tmpdir(), 'vigil-backup-'));
const data = path.join(work, 'data');
const store = new FileSystemStore(path.join(work, 'store'));
const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

/** Every entry of a stored archive: name -> content (files) or type. */
async function entriesOf(location: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        out.set(header.name, header.type === 'file' ? Buffer.concat(chunks).toString() : `<${header.type}>`);
        next();
      });
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  store.get(location).pipe(createGunzip()).pipe(ex);
  await done;
  return out;
}

const tick = (file: string, secondsAgo: number) => {
  const t = Date.now() / 1000 - secondsAgo;
  utimesSync(file, t, t);
};

describe('backup archives: tar + gzip, streamed into the store, with a manifest of the whole tree', () => {
  after(() => rmSync(work, { recursive: true, force: true }));
  mkdirSync(path.join(data, 'conf'), { recursive: true });
  mkdirSync(path.join(data, 'empty'));
  writeFileSync(path.join(data, 'conf', 'app.yaml'), 'port: 8080\n');
  writeFileSync(path.join(data, 'db.bin'), Buffer.alloc(300_000, 7));
  writeFileSync(path.join(data, 'old.log'), 'to be deleted\n');
  symlinkSync('conf/app.yaml', path.join(data, 'current'));
  for (const f of ['conf/app.yaml', 'db.bin', 'old.log']) tick(path.join(data, f), 60);
  const request = { agentId: 'a1', paths: [data], allow: [work], store };

  let full: Awaited<ReturnType<typeof writeArchive>>;
  let inc1: Awaited<ReturnType<typeof writeArchive>>;

  it('a full backup carries every entry; its size and SHA-256 are those of the stored bytes', async () => {
    full = await writeArchive({ ...request, jobId: 'j1', kind: 'full', key: 'a1/j1' });
    assert.deepEqual(await digestOf(store.get(full.location)), { sha256: full.sha256, size: full.sizeBytes });
    const entries = await entriesOf(full.location);
    const rel = (p: string) => path.join(data, p).replace(/^\/+/, '');
    assert.equal(entries.get(rel('conf/app.yaml')), 'port: 8080\n');
    assert.equal(entries.get(rel('db.bin'))?.length, 300_000);
    assert.equal(entries.get(rel('empty')), '<directory>');
    assert.equal(entries.get(rel('current')), '<symlink>');
    assert.ok(entries.has(MANIFEST_ENTRY), 'the manifest is in the archive');
    // The manifest describes the tree exactly, with each file's hash.
    const m = await readManifest(store, full.manifestLocation);
    assert.deepEqual(
      m.entries.map((e) => `${path.relative(data, e.path) || '.'}:${e.type}`),
      ['.:dir', 'conf:dir', 'conf/app.yaml:file', 'current:symlink', 'db.bin:file', 'empty:dir', 'old.log:file'],
    );
    assert.equal(m.entries.find((e) => e.path.endsWith('app.yaml'))?.sha256, sha('port: 8080\n'));
    assert.equal(m.entries.find((e) => e.path.endsWith('current'))?.target, 'conf/app.yaml');
    assert.equal(full.fileCount, 7);
  });

  it('an incremental carries only what changed since its base; its manifest still lists the whole tree', async () => {
    writeFileSync(path.join(data, 'conf', 'app.yaml'), 'port: 9090\n');
    writeFileSync(path.join(data, 'new.txt'), 'hello\n');
    rmSync(path.join(data, 'old.log'));
    const base = await readManifest(store, full.manifestLocation);
    inc1 = await writeArchive({ ...request, jobId: 'j2', kind: 'incremental', base, key: 'a1/j2' });
    const archived = [...(await entriesOf(inc1.location)).keys()].filter((n) => n !== MANIFEST_ENTRY);
    const names = archived.map((n) => path.relative(data.replace(/^\/+/, ''), n) || '.').sort();
    // The data directory itself changed too (an entry was added and one removed); conf/ did not
    // (a file rewritten in place leaves its directory's mtime alone).
    assert.deepEqual(names, ['.', 'conf/app.yaml', 'new.txt']);
    const m = await readManifest(store, inc1.manifestLocation);
    assert.equal(m.baseJobId, 'j1');
    assert.ok(!m.entries.some((e) => e.path.endsWith('old.log')), 'a deleted file leaves the manifest');
    assert.equal(
      m.entries.find((e) => e.path.endsWith('db.bin'))?.sha256,
      sha(Buffer.alloc(300_000, 7)),
      'unchanged: the base hash',
    );
    assert.equal(m.entries.find((e) => e.path.endsWith('app.yaml'))?.sha256, sha('port: 9090\n'));
  });

  it('a second incremental builds on the first', async () => {
    writeFileSync(path.join(data, 'db.bin'), Buffer.alloc(300_001, 8));
    const inc2 = await writeArchive({
      ...request,
      jobId: 'j3',
      kind: 'incremental',
      base: await readManifest(store, inc1.manifestLocation),
      key: 'a1/j3',
    });
    const archived = [...(await entriesOf(inc2.location)).keys()].filter((n) => n !== MANIFEST_ENTRY);
    assert.deepEqual(
      archived.map((n) => path.basename(n)),
      ['db.bin'],
    );
    assert.equal(inc2.manifest.entries.length, 7, 'the tree: 3 dirs, app.yaml, current, db.bin, new.txt');
  });

  it('refuses a path outside the allow-list, or one that leads outside through a symlink, reading nothing', async () => {
    const before = readdirSync(store.root, { recursive: true }).length;
    await assert.rejects(
      writeArchive({ ...request, paths: ['/etc'], jobId: 'x', kind: 'full', key: 'a1/x' }),
      (e: unknown) =>
        e instanceof BackupRefused && /path \/etc is outside the agent's backup allow-list/.test(e.message),
    );
    symlinkSync('/etc', path.join(data, 'escape'));
    await assert.rejects(
      writeArchive({ ...request, paths: [path.join(data, 'escape')], jobId: 'y', kind: 'full', key: 'a1/y' }),
      (e: unknown) => e instanceof BackupRefused && /resolves to \/etc, outside/.test(e.message),
    );
    await assert.rejects(
      writeArchive({ ...request, paths: ['relative/path'], jobId: 'z', kind: 'full', key: 'a1/z' }),
      BackupRefused,
    );
    assert.equal(readdirSync(store.root, { recursive: true }).length, before, 'nothing stored');
    rmSync(path.join(data, 'escape'));
  });
});

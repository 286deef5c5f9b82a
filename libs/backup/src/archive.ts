import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink, realpath } from 'node:fs/promises';
import path from 'node:path';
import { pipeline as pipelineCb, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { pack as tarPack } from 'tar-stream';
import { DigestTap } from './digest';
import { changedSince, MANIFEST_ENTRY, type Manifest, type ManifestEntry } from './manifest';
import type { BackupStore } from './store';

/** A request the agent will not carry out (a path outside its allow-list, a missing path): nothing was read. */
export class BackupRefused extends Error {}

export interface ArchiveRequest {
  jobId: string;
  agentId: string;
  kind: 'full' | 'incremental';
  /** What to back up: files or directories (recursively). */
  paths: string[];
  /** The agent's allow-list: every requested path must resolve inside one of these. */
  allow: string[];
  /** The previous backup of the chain (required for an incremental). */
  base?: Manifest;
  store: BackupStore;
  /** The store key without extension: the archive is `<key>.tar.gz`, its manifest `<key>.manifest.json`. */
  key: string;
}

export interface ArchiveOutcome {
  location: string;
  manifestLocation: string;
  sizeBytes: number;
  sha256: string;
  /** Entries the archive carries (an incremental: only the changed ones). */
  fileCount: number;
  manifest: Manifest;
  durationMs: number;
}

/**
 * The requested paths, resolved (symlinks included) and each inside an allowed root, or a
 * BackupRefused naming the first that is not. Nothing is read before this says yes.
 */
export async function resolveAllowed(paths: string[], allow: string[]): Promise<string[]> {
  if (paths.length === 0) throw new BackupRefused('no paths to back up');
  const roots = await Promise.all(allow.map((a) => realpath(a).catch(() => path.resolve(a))));
  const inside = (p: string, root: string) => {
    const rel = path.relative(root, p);
    return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
  };
  const out: string[] = [];
  for (const requested of paths) {
    if (!path.isAbsolute(requested)) throw new BackupRefused(`path ${requested} is not absolute`);
    // The literal path first: a path that is outside is refused without looking at it.
    if (
      !roots.some((r) => inside(path.resolve(requested), r)) &&
      !allow.some((a) => inside(path.resolve(requested), path.resolve(a)))
    )
      throw new BackupRefused(
        `path ${requested} is outside the agent's backup allow-list (${allow.join(', ') || 'empty'})`,
      );
    let real: string;
    try {
      real = await realpath(requested);
    } catch {
      throw new BackupRefused(`path ${requested} does not exist`);
    }
    if (!roots.some((r) => inside(real, r)))
      throw new BackupRefused(
        `path ${requested} resolves to ${real}, outside the agent's backup allow-list (${allow.join(', ')})`,
      );
    out.push(real);
  }
  return out;
}

/** Every entry under `root` (itself included), directories before their contents, names sorted. */
async function* walk(root: string): AsyncGenerator<Omit<ManifestEntry, 'sha256'>> {
  const s = await lstat(root);
  const base = { path: root, mtimeMs: Math.round(s.mtimeMs), mode: s.mode & 0o7777 };
  if (s.isSymbolicLink()) {
    yield { ...base, type: 'symlink', size: 0, target: await readlink(root) };
  } else if (s.isDirectory()) {
    yield { ...base, type: 'dir', size: 0 };
    for (const name of (await readdir(root)).sort()) yield* walk(path.join(root, name));
  } else if (s.isFile()) {
    yield { ...base, type: 'file', size: s.size };
  }
  // Sockets, FIFOs and devices are not backed up.
}

/** The archive's name for a path: relative, as tar writes it. */
const entryName = (p: string) => p.replace(/^\/+/, '');

/**
 * Archives the requested paths as tar + gzip straight into the store: files are read once, hashed
 * as they stream into the archive, and the archive is hashed as it streams out, so neither a file
 * nor the archive is ever held in memory. A full carries every entry; an incremental only those
 * new or changed since `base` (unchanged files keep the base's hash). Either way the manifest lists
 * the whole tree, is the archive's last entry, and is stored beside it.
 */
export async function writeArchive(req: ArchiveRequest): Promise<ArchiveOutcome> {
  const started = Date.now();
  if (req.kind === 'incremental' && !req.base) throw new BackupRefused('an incremental backup needs its base manifest');
  const roots = await resolveAllowed(req.paths, req.allow);
  const base = new Map((req.kind === 'incremental' ? req.base!.entries : []).map((e) => [e.path, e]));

  const tar = tarPack();
  const tap = new DigestTap();
  let streamError: Error | undefined;
  const body = pipelineCb(tar, createGzip(), tap, (e) => {
    if (e) streamError = e;
  });
  const upload = req.store.put(`${req.key}.tar.gz`, body);
  // An upload that fails early must not leave the packing below waiting on a stalled stream.
  upload.catch((e: Error) => tar.destroy(e));

  const entries: ManifestEntry[] = [];
  const archived: string[] = [];
  const seen = new Set<string>();
  for (const root of roots) {
    for await (const e of walk(root)) {
      if (seen.has(e.path)) continue; // overlapping requested paths
      seen.add(e.path);
      const before = base.get(e.path);
      if (!changedSince(e, before)) {
        entries.push({ ...e, sha256: before!.sha256 });
        continue;
      }
      const header = { name: entryName(e.path), mode: e.mode, mtime: new Date(e.mtimeMs) };
      if (e.type === 'dir') {
        tar.entry({ ...header, type: 'directory' });
        entries.push({ ...e, sha256: null });
      } else if (e.type === 'symlink') {
        tar.entry({ ...header, type: 'symlink', linkname: e.target });
        entries.push({ ...e, sha256: null });
      } else {
        const fileTap = new DigestTap();
        const sink = tar.entry({ ...header, type: 'file', size: e.size });
        // A file that changes size while read fails the entry (tar-stream checks): the backup fails, with why.
        await pipeline(createReadStream(e.path), fileTap, sink);
        entries.push({ ...e, sha256: fileTap.digest() });
      }
      archived.push(e.path);
    }
  }
  const manifest: Manifest = {
    version: 1,
    jobId: req.jobId,
    agentId: req.agentId,
    kind: req.kind,
    baseJobId: req.kind === 'incremental' ? req.base!.jobId : null,
    createdAt: started,
    roots,
    entries,
    archived,
  };
  const manifestJson = JSON.stringify(manifest);
  tar.entry({ name: MANIFEST_ENTRY, mode: 0o644, mtime: new Date(started) }, manifestJson);
  tar.finalize();
  const stored = await upload;
  if (streamError) throw streamError;
  const manifestStored = await req.store.put(`${req.key}.manifest.json`, Readable.from([manifestJson]));
  return {
    location: stored.location,
    manifestLocation: manifestStored.location,
    sizeBytes: tap.bytes,
    sha256: tap.digest(),
    fileCount: archived.length,
    manifest,
    durationMs: Date.now() - started,
  };
}

/** A manifest read back from the store (an incremental's base). */
export async function readManifest(store: BackupStore, location: string): Promise<Manifest> {
  const chunks: Buffer[] = [];
  for await (const c of store.get(location)) chunks.push(c as Buffer);
  const m = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Manifest;
  if (m.version !== 1 || !Array.isArray(m.entries)) throw new Error(`${location} is not a backup manifest`);
  return m;
}

import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, lstat, lutimes, mkdir, readdir, realpath, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract as tarExtract } from 'tar-stream';
import { digestOf, DigestTap } from './digest';
import { MANIFEST_ENTRY, type Manifest, type ManifestEntry } from './manifest';
import { readManifest } from './archive';
import type { BackupStore } from './store';
import { SwapJournal, type Swap } from './swap-journal';

/** A restore that was refused before anything on disk was touched (bad chain, checksum, path). */
export class RestoreRefused extends Error {}

/** One archive of the chain, as the orchestrator verified it. */
export interface ChainArchive {
  location: string;
  manifestLocation: string;
  sha256: string;
}

export interface RestoreRequest {
  /** Names the swap's journal and staging directories (a path-safe form of it is used). */
  restoreId: string;
  /** The full first, then its incrementals in order. */
  chain: ChainArchive[];
  store: BackupStore;
  /** The agent's allow-list: every directory the restore writes must be inside one of these. */
  allow: string[];
  /** null: each backed-up root is replaced in place; else the tree goes below this directory. */
  targetDir: string | null;
  /** Where in-flight swaps are journalled (must survive a restart: see recoverRestores). */
  journal: SwapJournal;
  /** Kept in the journal for whoever recovers an interrupted swap (e.g. to report it). */
  meta?: Record<string, unknown>;
  /** Called at each point of the swap (tests crash the process there). */
  onPhase?: (phase: 'staged' | 'old-moved' | 'swapped') => void | Promise<void>;
}

export interface RestoreOutcome {
  /** Archive bytes read (the chain, once for the checksum and once to extract). */
  bytes: number;
  /** Entries of the restored tree. */
  fileCount: number;
  durationMs: number;
  /** Where each backed-up root was restored. */
  destinations: string[];
}

const inside = (p: string, root: string) => {
  const rel = path.relative(root, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
};

/** A manifest path must be absolute and normal, so that no entry can climb out of its root. */
const normalAbsolute = (p: string) => path.isAbsolute(p) && path.normalize(p) === p && !p.split('/').includes('..');

/**
 * Checks the chain's manifests (a full, then incrementals each built on the one before, one agent)
 * and that every entry lies inside a root of the newest one. Returns the manifests.
 */
async function readChain(req: RestoreRequest): Promise<Manifest[]> {
  if (req.chain.length === 0) throw new RestoreRefused('the restore chain is empty');
  const manifests: Manifest[] = [];
  for (const [i, a] of req.chain.entries()) {
    let m: Manifest;
    try {
      m = await readManifest(req.store, a.manifestLocation);
    } catch (e) {
      throw new RestoreRefused(`manifest ${a.manifestLocation} unreadable: ${(e as Error).message}`);
    }
    const prev = manifests[i - 1];
    if (i === 0 && m.kind !== 'full')
      throw new RestoreRefused(`the chain starts with ${m.kind} ${m.jobId}, not a full`);
    if (prev && (m.kind !== 'incremental' || m.baseJobId !== prev.jobId || m.agentId !== prev.agentId))
      throw new RestoreRefused(`${m.kind} ${m.jobId} does not build on ${prev.jobId}`);
    for (const root of m.roots)
      if (!normalAbsolute(root)) throw new RestoreRefused(`root ${root} is not a normal path`);
    for (const e of m.entries)
      if (!normalAbsolute(e.path) || !m.roots.some((r) => inside(e.path, r)))
        throw new RestoreRefused(`entry ${e.path} of ${m.jobId} lies outside its roots`);
    manifests.push(m);
  }
  return manifests;
}

/** Where each root goes, each destination inside the allow-list (checked on real paths where they exist). */
async function destinationsOf(roots: string[], req: RestoreRequest): Promise<Map<string, string>> {
  const allowReal = await Promise.all(req.allow.map((a) => realpath(a).catch(() => path.resolve(a))));
  const out = new Map<string, string>();
  for (const root of roots) {
    const dest = req.targetDir === null ? root : path.join(path.resolve(req.targetDir), root);
    // The nearest existing ancestor, resolved: a symlink on the way must not lead outside.
    let probe = path.dirname(dest);
    let real: string | undefined;
    while (real === undefined) {
      real = await realpath(probe).catch(() => undefined);
      if (real === undefined) probe = path.dirname(probe);
    }
    const resolved = path.join(real, path.relative(probe, dest));
    const allowed = (p: string) =>
      allowReal.some((a) => inside(p, a)) || req.allow.some((a) => inside(p, path.resolve(a)));
    if (!allowed(dest) || !allowReal.some((a) => inside(resolved, a)))
      throw new RestoreRefused(
        `restoring ${root} to ${dest} is outside the agent's allow-list (${req.allow.join(', ') || 'empty'})`,
      );
    out.set(root, dest);
  }
  return out;
}

/**
 * Removes what is at `p`, whatever it is, unless it is already of `type` (directories are kept).
 * Returns whether something was removed.
 */
async function clear(p: string, type: ManifestEntry['type']): Promise<boolean> {
  const s = await lstat(p).catch(() => undefined);
  if (!s || (type === 'dir' && s.isDirectory())) return false;
  await rm(p, { recursive: true, force: true });
  return true;
}

/** Files up to this size are written behind the extraction (see extractInto). */
const SMALL_FILE = 1024 * 1024;
const WRITES_IN_FLIGHT = 16;

/** Tasks (file writes, attribute updates) in flight, at most `limit`; the first failure is thrown by the next add or by drain. */
class BoundedTasks {
  private readonly pending = new Set<Promise<void>>();
  private failure: Error | undefined;

  constructor(private readonly limit: number) {}

  async add(write: Promise<void>): Promise<void> {
    const p = write.then(
      () => void this.pending.delete(p),
      (e: Error) => {
        this.pending.delete(p);
        this.failure ??= e;
      },
    );
    this.pending.add(p);
    while (this.pending.size >= this.limit) await Promise.race(this.pending);
    if (this.failure) throw this.failure;
  }

  async drain(): Promise<void> {
    await Promise.all(this.pending);
    if (this.failure) throw this.failure;
  }
}

/**
 * Extracts one archive into the staging trees: only entries its manifest says it carries, each
 * file checked against the manifest's SHA-256 as it is written, the archive's own SHA-256 checked
 * again at the end (the store may have changed since the first check). Parents are resolved before
 * each write, so an earlier symlink entry cannot carry a later entry out of its staging tree.
 */
async function extractInto(
  req: RestoreRequest,
  archive: ChainArchive,
  manifest: Manifest,
  stagingOf: (entryPath: string) => { path: string; root: string },
): Promise<number> {
  const carried = new Map(manifest.entries.filter((e) => manifest.archived.includes(e.path)).map((e) => [e.path, e]));
  const writes = new BoundedTasks(WRITES_IN_FLIGHT);
  /** Directories known to resolve inside their staging tree (saves two realpaths per entry). */
  const safeDirs = new Set<string>();
  const realRoots = new Map<string, string>();
  const tap = new DigestTap();
  const ex = tarExtract();
  const feeding = pipeline(req.store.get(archive.location), tap, createGunzip(), ex);
  feeding.catch(() => undefined); // surfaced by the iteration below
  for await (const entry of ex) {
    const name = entry.header.name;
    if (name === MANIFEST_ENTRY) {
      entry.resume();
      continue;
    }
    const abs = `/${name.replace(/\/+$/, '')}`;
    const want = carried.get(abs);
    const type = entry.header.type === 'directory' ? 'dir' : entry.header.type;
    if (!want || want.type !== type) {
      ex.destroy();
      throw new Error(`archive ${archive.location} holds ${name} (${type}), which its manifest does not list`);
    }
    const { path: target, root } = stagingOf(abs);
    const parent = path.dirname(target);
    if (target !== root && !safeDirs.has(parent)) {
      await mkdir(parent, { recursive: true });
      if (!realRoots.has(root)) realRoots.set(root, await realpath(root));
      if (!inside(await realpath(parent), realRoots.get(root)!)) {
        ex.destroy();
        throw new Error(`entry ${name} would be written through a symlink outside the restore`);
      }
      safeDirs.add(parent);
    }
    // A directory checked before may since have been replaced (by a symlink, say): check again.
    if ((await clear(target, want.type)) || want.type === 'symlink') safeDirs.clear();
    if (want.type === 'dir') {
      await mkdir(target, { recursive: true, mode: 0o700 });
      entry.resume();
    } else if (want.type === 'symlink') {
      await symlink(want.target ?? '', target);
      entry.resume();
    } else if (want.size <= SMALL_FILE) {
      // Small files are read whole and written behind the extraction, several at once: a restore of
      // many small files is bound by the latency of open/write/close, not by bytes.
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      const body = Buffer.concat(chunks);
      if (createHash('sha256').update(body).digest('hex') !== want.sha256) {
        ex.destroy();
        throw new Error(`file ${abs} in ${archive.location} does not match its manifest's SHA-256`);
      }
      await writes.add(writeFile(target, body, { mode: 0o600 }));
    } else {
      const fileTap = new DigestTap();
      await pipeline(entry, fileTap, createWriteStream(target, { mode: 0o600 }));
      if (fileTap.digest() !== want.sha256) {
        ex.destroy();
        throw new Error(`file ${abs} in ${archive.location} does not match its manifest's SHA-256`);
      }
    }
  }
  await writes.drain();
  await feeding;
  if (tap.digest() !== archive.sha256)
    throw new Error(`archive ${archive.location} changed in the store while it was restored`);
  return tap.bytes;
}

/** Removes from a staging tree everything the newest manifest does not list (deleted since the full). */
async function prune(dir: string, abs: string, listed: Map<string, ManifestEntry>): Promise<void> {
  const s = await lstat(dir);
  if (!s.isDirectory()) return;
  for (const name of await readdir(dir)) {
    const childAbs = path.join(abs, name);
    const entry = listed.get(childAbs);
    const child = path.join(dir, name);
    if (!entry) await rm(child, { recursive: true, force: true });
    else if (entry.type === 'dir') await prune(child, childAbs, listed);
  }
}

/**
 * Gives every entry its mode and mtime from the newest manifest, contents before their directory
 * (writing into a directory changes its mtime), and checks the tree is complete.
 */
async function finish(entries: ManifestEntry[], stagingOf: (p: string) => { path: string }): Promise<void> {
  const settle = async (e: ManifestEntry) => {
    const p = stagingOf(e.path).path;
    const s = await lstat(p).catch(() => undefined);
    const type = s?.isDirectory() ? 'dir' : s?.isSymbolicLink() ? 'symlink' : s?.isFile() ? 'file' : undefined;
    if (type !== e.type) throw new Error(`the chain does not restore ${e.path} (${e.type}): the chain is incomplete`);
    if (e.type === 'file' && s!.size !== e.size)
      throw new Error(`${e.path} restored with ${s!.size} bytes, not ${e.size}`);
    const when = new Date(e.mtimeMs);
    if (e.type === 'symlink') {
      await lutimes(p, when, when);
    } else {
      await chmod(p, e.mode);
      await utimes(p, when, when);
    }
  };
  // Files and links several at once; then directories one by one, deepest first.
  const pending = new BoundedTasks(WRITES_IN_FLIGHT);
  for (const e of entries) if (e.type !== 'dir') await pending.add(settle(e));
  await pending.drain();
  for (const e of [...entries].reverse()) if (e.type === 'dir') await settle(e);
}

/**
 * Restores a chain of backups (a full, then its incrementals) so that a crash at any point leaves
 * each destination with its old tree or the new one, never a mix:
 *
 * 1. every manifest is read and checked, every destination checked against the allow-list and every
 *    archive's SHA-256 checked against what the orchestrator verified; any failure refuses the
 *    restore before anything on disk is touched;
 * 2. the archives are extracted in order into a staging tree beside each destination (same
 *    directory, so same file system: the swap is a rename), what the newest manifest no longer
 *    lists is removed, modes and mtimes are set and the tree is checked complete;
 * 3. the swap is journalled, then each destination is renamed aside and its staging tree renamed
 *    into place; the old trees are removed and the journal entry dropped.
 *
 * A crash before step 3 leaves staging trees the journal names: recovery removes them (the old
 * tree stays). A crash during step 3 is rolled forward by recovery (the staging tree is complete),
 * see SwapJournal.recover.
 */
export async function restoreChain(req: RestoreRequest): Promise<RestoreOutcome> {
  const started = Date.now();
  const manifests = await readChain(req);
  const newest = manifests[manifests.length - 1]!;
  const destinations = await destinationsOf(newest.roots, req);
  let bytes = 0;
  for (const a of req.chain) {
    const { sha256, size } = await digestOf(req.store.get(a.location)).catch((e: Error) => {
      throw new RestoreRefused(`archive ${a.location} unreadable: ${e.message}`);
    });
    if (sha256 !== a.sha256)
      throw new RestoreRefused(`archive ${a.location}: SHA-256 ${sha256} is not the verified ${a.sha256}`);
    bytes += size;
  }

  const id = req.restoreId.replace(/[^A-Za-z0-9_.-]/g, '_');
  const swaps: Swap[] = [...destinations.values()].map((dest) => ({
    dest,
    staging: path.join(path.dirname(dest), `.${path.basename(dest)}.vigil-restore-${id}`),
    old: path.join(path.dirname(dest), `.${path.basename(dest)}.vigil-old-${id}`),
  }));
  const byRoot = new Map(newest.roots.map((r, i) => [r, swaps[i]!]));
  // The longest root first: a root nested in another belongs to the inner one.
  const rootsByLength = [...newest.roots].sort((a, b) => b.length - a.length);
  const stagingOf = (abs: string) => {
    const root = rootsByLength.find((r) => inside(abs, r));
    if (!root) throw new Error(`entry ${abs} lies outside the roots of the newest backup`);
    const staging = byRoot.get(root)!.staging;
    return { path: path.join(staging, path.relative(root, abs)), root: staging };
  };

  await req.journal.begin(req.restoreId, swaps, req.meta ?? {});
  try {
    for (const s of swaps) {
      await mkdir(path.dirname(s.dest), { recursive: true });
      await rm(s.staging, { recursive: true, force: true });
    }
    for (const [i, a] of req.chain.entries()) bytes += await extractInto(req, a, manifests[i]!, stagingOf);
    const listed = new Map(newest.entries.map((e) => [e.path, e]));
    for (const [root, s] of byRoot) if (listed.get(root)?.type === 'dir') await prune(s.staging, root, listed);
    await finish(newest.entries, stagingOf);
  } catch (e) {
    await req.journal.rollBack(req.restoreId);
    throw e;
  }
  await req.onPhase?.('staged');
  await req.journal.swap(req.restoreId, req.onPhase);
  return {
    bytes,
    fileCount: newest.entries.length,
    durationMs: Date.now() - started,
    destinations: swaps.map((s) => s.dest),
  };
}

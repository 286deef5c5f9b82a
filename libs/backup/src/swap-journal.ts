import { lstat, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/** One destination of a restore: its complete staging tree goes in, the old tree goes aside. */
export interface Swap {
  dest: string;
  staging: string;
  old: string;
}

interface Entry {
  restoreId: string;
  /** staging: the staging trees may be incomplete; swapping: they are complete and go in. */
  phase: 'staging' | 'swapping';
  swaps: Swap[];
  meta: Record<string, unknown>;
  startedAt: number;
}

export interface Recovered {
  restoreId: string;
  meta: Record<string, unknown>;
  /** completed: the new trees are in place; rolled_back: the old trees stayed, staging removed. */
  outcome: 'completed' | 'rolled_back';
}

/** Whether anything is at `p` (a dangling symlink counts). */
const present = (p: string) =>
  lstat(p).then(
    () => true,
    () => false,
  );

/**
 * Node has no atomic directory swap, so a restore swaps by renames and journals them here, one
 * file per restore, written atomically (temp file, fsync, rename). The invariant: while an entry
 * says `staging`, no destination has been touched; once it says `swapping`, every staging tree is
 * complete, so finishing the renames is always right. `recover` (at the agent's start, before any
 * new restore) therefore rolls a `staging` entry back and a `swapping` one forward: each destination
 * ends with its old tree or its new one, never a mix and never nothing.
 */
export class SwapJournal {
  constructor(readonly dir: string) {}

  private file(restoreId: string): string {
    return path.join(this.dir, `${restoreId.replace(/[^A-Za-z0-9_.-]/g, '_')}.json`);
  }

  private async write(entry: Entry): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const target = this.file(entry.restoreId);
    const temp = `${target}.tmp`;
    const f = await open(temp, 'w');
    try {
      await f.writeFile(JSON.stringify(entry));
      await f.sync();
    } finally {
      await f.close();
    }
    await rename(temp, target);
    const d = await open(this.dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }

  private async read(file: string): Promise<Entry | undefined> {
    try {
      return JSON.parse(await readFile(file, 'utf8')) as Entry;
    } catch {
      return undefined;
    }
  }

  /** Records a restore about to stage its trees (before any staging directory exists). */
  begin(restoreId: string, swaps: Swap[], meta: Record<string, unknown>): Promise<void> {
    return this.write({ restoreId, phase: 'staging', swaps, meta, startedAt: Date.now() });
  }

  /** Removes the staging trees of a restore that did not get to its swap, and its entry. */
  async rollBack(restoreId: string): Promise<void> {
    const entry = await this.read(this.file(restoreId));
    for (const s of entry?.swaps ?? []) await rm(s.staging, { recursive: true, force: true });
    await rm(this.file(restoreId), { force: true });
  }

  /** Puts complete staging trees in place (see the class comment), then removes the old trees. */
  async swap(restoreId: string, onPhase?: (phase: 'old-moved' | 'swapped') => void | Promise<void>): Promise<void> {
    const entry = await this.read(this.file(restoreId));
    if (!entry) throw new Error(`no journalled restore ${restoreId}`);
    await this.write({ ...entry, phase: 'swapping' });
    await this.rollForward(entry.swaps, onPhase);
    await rm(this.file(restoreId), { force: true });
  }

  /** Idempotent: each step checks what a crash may already have done. */
  private async rollForward(swaps: Swap[], onPhase?: (phase: 'old-moved' | 'swapped') => void | Promise<void>) {
    for (const s of swaps) {
      if (await present(s.staging)) {
        if ((await present(s.dest)) && !(await present(s.old))) await rename(s.dest, s.old);
        await onPhase?.('old-moved');
        await rename(s.staging, s.dest);
        await onPhase?.('swapped');
      }
    }
    for (const s of swaps) await rm(s.old, { recursive: true, force: true });
  }

  /** Finishes or undoes every restore a crash interrupted; returns what it did to each. */
  async recover(): Promise<Recovered[]> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    const out: Recovered[] = [];
    for (const name of names.filter((n) => n.endsWith('.tmp'))) await rm(path.join(this.dir, name), { force: true });
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      const file = path.join(this.dir, name);
      const entry = await this.read(file);
      if (!entry) {
        await rm(file, { force: true });
        continue;
      }
      if (entry.phase === 'swapping') {
        await this.rollForward(entry.swaps);
        out.push({ restoreId: entry.restoreId, meta: entry.meta, outcome: 'completed' });
      } else {
        for (const s of entry.swaps) await rm(s.staging, { recursive: true, force: true });
        out.push({ restoreId: entry.restoreId, meta: entry.meta, outcome: 'rolled_back' });
      }
      await rm(file, { force: true });
    }
    return out;
  }
}

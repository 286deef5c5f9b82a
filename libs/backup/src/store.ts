import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * Where archives live. Agents write, the orchestrator reads back (verification) and deletes
 * (retention). A location is what `put` returned: opaque to everyone but the store.
 */
export interface BackupStore {
  /** Stores `body` under `key` (whole or not at all); returns its location and size. */
  put(key: string, body: Readable): Promise<{ location: string; size: number }>;
  /** The stored bytes, streamed. Rejects (or the stream errors) when there is no such object. */
  get(location: string): Readable;
  /** Its size, or undefined when there is no such object. */
  stat(location: string): Promise<{ size: number } | undefined>;
  /** Removes it; no error when it is already gone. */
  delete(location: string): Promise<void>;
}

export class StoreError extends Error {}

/**
 * A directory as a store: a key is a relative path below `root`, written to a temporary file and
 * renamed into place, so a crash mid-upload leaves no partial archive under the real name.
 */
export class FileSystemStore implements BackupStore {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  private pathOf(location: string): string {
    const p = path.resolve(location);
    if (path.relative(this.root, p).startsWith('..') || path.isAbsolute(path.relative(this.root, p)))
      throw new StoreError(`${location} is not in the store at ${this.root}`);
    return p;
  }

  async put(key: string, body: Readable): Promise<{ location: string; size: number }> {
    const target = this.pathOf(path.join(this.root, key));
    await mkdir(path.dirname(target), { recursive: true });
    const temp = `${target}.partial-${process.pid}-${Date.now()}`;
    try {
      await pipeline(body, createWriteStream(temp, { flags: 'wx' }));
      await rename(temp, target);
    } catch (e) {
      await rm(temp, { force: true });
      throw e;
    }
    return { location: target, size: (await stat(target)).size };
  }

  get(location: string): Readable {
    return createReadStream(this.pathOf(location));
  }

  async stat(location: string): Promise<{ size: number } | undefined> {
    try {
      const s = await stat(this.pathOf(location));
      return s.isFile() ? { size: s.size } : undefined;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  async delete(location: string): Promise<void> {
    await rm(this.pathOf(location), { force: true });
  }
}

import { open, rename } from 'node:fs/promises';
import path from 'node:path';

/** fsync of a directory: makes a file created, renamed or deleted in it survive a power loss. */
export async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Temp file, fsync, rename, fsync of the directory: a reader sees the old content or the new, never half. */
export async function writeFileDurably(file: string, content: string): Promise<void> {
  const tmp = `${file}.tmp`;
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
  await syncDirectory(path.dirname(file));
}

/**
 * One small file rewritten durably off the event loop, however often it is asked to be: writes
 * asked for while one is in flight coalesce into one more write of the newest content. Each
 * `write` resolves once its content, or newer content, is on disk.
 *
 * Invariant: at most one write of the file is in flight (they share a temp file), and the last
 * content asked for is always written eventually.
 */
export class DurableFile {
  private inFlight: Promise<void> = Promise.resolve();
  private queued?: Promise<void>;
  private newest?: string;

  constructor(readonly file: string) {}

  write(content: string): Promise<void> {
    this.newest = content;
    this.queued ??= this.inFlight
      .catch(() => undefined)
      .then(() => {
        const content = this.newest!;
        this.queued = undefined;
        this.inFlight = writeFileDurably(this.file, content);
        return this.inFlight;
      });
    return this.queued;
  }

  /** Resolves once every write asked for so far has ended (successfully or not). */
  async settled(): Promise<void> {
    await (this.queued ?? this.inFlight).catch(() => undefined);
  }
}

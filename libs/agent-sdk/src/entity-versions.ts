import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DurableFile } from './durable-file';

/**
 * The newest version given to each entity, so a restarted agent never reuses one. Remembered in
 * `versions.json`, written before the journal segments it was derived from are deleted; on open it
 * is read back and raised by whatever the journal still holds.
 */
export class EntityVersions {
  private readonly versions = new Map<string, number>();
  private readonly file: DurableFile;

  private constructor(dataDir: string) {
    this.file = new DurableFile(path.join(dataDir, 'versions.json'));
  }

  /** Reads versions.json (synchronously: once, when the agent opens). */
  static load(dataDir: string): EntityVersions {
    const v = new EntityVersions(dataDir);
    if (existsSync(v.file.file)) {
      for (const [k, n] of Object.entries(JSON.parse(readFileSync(v.file.file, 'utf8')) as Record<string, number>))
        v.versions.set(k, n);
    }
    return v;
  }

  /** A version seen in the journal: the entity's counter is at least that. */
  observe(entityId: string, version: number): void {
    this.versions.set(entityId, Math.max(this.current(entityId), version));
  }

  current(entityId: string): number {
    return this.versions.get(entityId) ?? 0;
  }

  /** Takes the entity's next version. */
  next(entityId: string): number {
    const version = this.current(entityId) + 1;
    this.versions.set(entityId, version);
    return version;
  }

  /** Gives back a version that was never made durable, so the next change reuses it. */
  giveBack(entityId: string, version: number): void {
    this.versions.set(entityId, Math.min(this.current(entityId), version - 1));
  }

  /** Writes them durably; nothing to write (and no file) while nothing was ever published. */
  async persist(): Promise<void> {
    if (this.versions.size === 0) return;
    await this.file.write(JSON.stringify(Object.fromEntries(this.versions)));
  }
}

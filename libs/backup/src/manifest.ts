/** One entry of the tree a backup describes. Paths are absolute, as the agent saw them. */
export interface ManifestEntry {
  path: string;
  type: 'file' | 'dir' | 'symlink';
  /** Bytes (0 for a directory or symlink). */
  size: number;
  mtimeMs: number;
  /** Permission bits (mode & 0o7777). */
  mode: number;
  /** Hex SHA-256 of the content (files only; null otherwise). */
  sha256: string | null;
  /** A symlink's target, as stored (never followed). */
  target?: string;
}

/**
 * The complete tree at the time of a backup, whether the archive holds every file (full) or only
 * the changed ones (incremental): a restore applies the chain, then removes what the newest manifest
 * does not list. `archived` names the entries this archive carries.
 */
export interface Manifest {
  version: 1;
  jobId: string;
  agentId: string;
  kind: 'full' | 'incremental';
  baseJobId: string | null;
  createdAt: number;
  /** The requested paths, resolved. */
  roots: string[];
  entries: ManifestEntry[];
  archived: string[];
}

/** The name of the manifest inside the archive (its last entry). */
export const MANIFEST_ENTRY = '.vigil-backup/manifest.json';

/**
 * Whether an entry must go into an incremental: new, or different in type, size, mtime or mode
 * from the base (the same test rsync and tar's --listed-incremental make; content is not re-read).
 */
export function changedSince(entry: Omit<ManifestEntry, 'sha256'>, base: ManifestEntry | undefined): boolean {
  if (!base) return true;
  return (
    base.type !== entry.type ||
    base.size !== entry.size ||
    base.mtimeMs !== entry.mtimeMs ||
    base.mode !== entry.mode ||
    base.target !== entry.target
  );
}

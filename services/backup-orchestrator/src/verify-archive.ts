import { digestOf, type BackupStore } from '@vigil/backup';
import type { BackupResult } from '@vigil/events';

/**
 * Reads a reported archive back from the store, streaming: it must exist, and its size and SHA-256
 * must be what the agent reported; its manifest must exist too. Undefined when all holds, else why not.
 */
export async function verifyArchive(
  store: BackupStore,
  r: Pick<BackupResult, 'location' | 'manifestLocation' | 'sizeBytes' | 'sha256'>,
): Promise<string | undefined> {
  if (!r.location || !r.sha256 || r.sizeBytes === null || !r.manifestLocation)
    return 'the report names no archive, size, checksum or manifest';
  let found: { size: number } | undefined;
  try {
    found = await store.stat(r.location);
  } catch (e) {
    return `the archive ${r.location} cannot be read: ${(e as Error).message}`;
  }
  if (!found) return `the archive ${r.location} is not in the store`;
  if (found.size !== r.sizeBytes)
    return `the archive is ${found.size} bytes in the store, the agent reported ${r.sizeBytes}`;
  const { sha256 } = await digestOf(store.get(r.location));
  if (sha256 !== r.sha256) return `the archive's SHA-256 in the store is ${sha256}, the agent reported ${r.sha256}`;
  if (!(await store.stat(r.manifestLocation))) return `the manifest ${r.manifestLocation} is not in the store`;
  return undefined;
}

#!/usr/bin/env node
// One archive written as an agent's BackupRunner writes it, in a process of its own so the bench can
// watch its memory: argv = store dir, data dir, kind, key [base manifest location]. Prints the outcome as JSON.
import { FileSystemStore, readManifest, writeArchive } from '@vigil/backup';

async function main() {
  const [storeDir, dataDir, kind, key, baseLocation] = process.argv.slice(2);
  if (!storeDir || !dataDir || (kind !== 'full' && kind !== 'incremental') || !key) {
    console.error('usage: backup-worker <store dir> <data dir> full|incremental <key> [base manifest]');
    process.exit(2);
  }
  const store = new FileSystemStore(storeDir);
  const base = baseLocation ? await readManifest(store, baseLocation) : undefined;
  const out = await writeArchive({
    jobId: key,
    agentId: 'bench',
    kind,
    paths: [dataDir],
    allow: [dataDir],
    base,
    store,
    key,
  });
  const { manifest, ...rest } = out;
  console.log(JSON.stringify({ ...rest, entries: manifest.entries.length }));
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});

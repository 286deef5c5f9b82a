#!/usr/bin/env node
// One restore carried out as an agent's RestoreRunner does it, in a process of its own so the bench
// can watch its memory: argv = store dir, target dir, journal dir, chain JSON ([{location,
// manifestLocation, sha256}], full first). Prints the outcome as JSON.
import { FileSystemStore, restoreChain, SwapJournal, type ChainArchive } from '@vigil/backup';

async function main() {
  const [storeDir, targetDir, journalDir, chainJson] = process.argv.slice(2);
  if (!storeDir || !targetDir || !journalDir || !chainJson) {
    console.error('usage: restore-worker <store dir> <target dir> <journal dir> <chain JSON>');
    process.exit(2);
  }
  const out = await restoreChain({
    restoreId: 'bench',
    chain: JSON.parse(chainJson) as ChainArchive[],
    store: new FileSystemStore(storeDir),
    allow: [targetDir],
    targetDir,
    journal: new SwapJournal(journalDir),
  });
  console.log(JSON.stringify(out));
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});

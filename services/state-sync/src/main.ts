#!/usr/bin/env node
import { printServiceHelp, runService } from '@vigil/platform';
import { StateSyncModule } from './state-sync.module';

const definition = {
  name: 'state-sync',
  summary: 'Dedupes StateChangeEvents idempotently, gates them by version, caches the latest state in Redis',
  defaultPort: 3002,
  module: StateSyncModule,
};

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  printServiceHelp(definition);
} else {
  runService(definition).catch((e: Error) => {
    process.stderr.write(`state-sync failed to start: ${e.message}\n`);
    process.exit(1);
  });
}

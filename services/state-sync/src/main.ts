#!/usr/bin/env node
import { loadConfig, printServiceHelp, runService } from '@vigil/platform';
import { stateSyncConfigSchema } from './config';
import { StateSyncModule } from './state-sync.module';

const definition = {
  name: 'state-sync',
  summary: 'Dedupes StateChangeEvents idempotently, gates them by version, caches the latest state in Redis',
  defaultPort: 3002,
  module: StateSyncModule,
  configSchema: stateSyncConfigSchema,
};

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  printServiceHelp(definition);
} else {
  const { CONSUMER_GROUP } = loadConfig(stateSyncConfigSchema, { SERVICE_NAME: 'state-sync', HTTP_PORT: 3002 });
  runService({ ...definition, consumerGroup: CONSUMER_GROUP }).catch((e: Error) => {
    process.stderr.write(`state-sync failed to start: ${e.message}\n`);
    process.exit(1);
  });
}

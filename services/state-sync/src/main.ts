#!/usr/bin/env node
// First: the maintained OpenTelemetry instrumentations patch http and ioredis as they load.
import '@vigil/platform/dist/instrument';
import { serviceMain } from '@vigil/platform';
import { stateSyncConfigSchema } from './config';
import { StateSyncModule } from './state-sync.module';

serviceMain({
  name: 'state-sync',
  summary: 'Dedupes StateChangeEvents idempotently, gates them by version, caches the latest state in Redis',
  defaultPort: 3002,
  module: StateSyncModule,
  configSchema: stateSyncConfigSchema,
  consumerGroup: (config) => config.CONSUMER_GROUP,
  consumerOptions: (config) => (config.COMMIT_INTERVAL_MS > 0 ? { commitIntervalMs: config.COMMIT_INTERVAL_MS } : {}),
});

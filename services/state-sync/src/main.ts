#!/usr/bin/env -S node --max-old-space-size=192
// The heap cap bounds RSS under a backlog (V8 otherwise grows the heap with the allocation rate, to
// 400-700 MiB, though a fetch's records are 50 MB live); every launcher passes it: package.json
// start, infra/start.sh, the Dockerfile's NODE_FLAGS (compose), this line for the bin.
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

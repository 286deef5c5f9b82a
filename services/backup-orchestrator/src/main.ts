#!/usr/bin/env node
// First: the maintained OpenTelemetry instrumentations patch http and ioredis as they load.
import '@vigil/platform/dist/instrument';
import { serviceMain } from '@vigil/platform';
import { BackupOrchestratorModule } from './backup-orchestrator.module';
import { orchestratorConfigSchema } from './config';

serviceMain({
  name: 'backup-orchestrator',
  summary: 'Schedules agent backups, verifies every archive by reading it back, keeps and prunes them by policy',
  defaultPort: 3003,
  module: BackupOrchestratorModule,
  configSchema: orchestratorConfigSchema,
  consumerGroup: (config) => config.CONSUMER_GROUP,
});

#!/usr/bin/env node
import { serviceMain } from '@vigil/platform';
import { BackupOrchestratorModule } from './backup-orchestrator.module';

serviceMain({
  name: 'backup-orchestrator',
  summary: 'Triggers, verifies and prunes agent backups and plans restores in order',
  defaultPort: 3003,
  module: BackupOrchestratorModule,
});

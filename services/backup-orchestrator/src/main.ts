#!/usr/bin/env node
import { printServiceHelp, runService } from '@vigil/platform';
import { BackupOrchestratorModule } from './backup-orchestrator.module';

const definition = {
  name: 'backup-orchestrator',
  summary: 'Triggers, verifies and prunes agent backups and plans restores in order',
  defaultPort: 3003,
  module: BackupOrchestratorModule,
};

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  printServiceHelp(definition);
} else {
  runService(definition).catch((e: Error) => {
    process.stderr.write(`backup-orchestrator failed to start: ${e.message}\n`);
    process.exit(1);
  });
}

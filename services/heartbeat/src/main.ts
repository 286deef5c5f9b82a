#!/usr/bin/env node
import { printServiceHelp, runService } from '@vigil/platform';
import { HeartbeatModule } from './heartbeat.module';

const definition = {
  name: 'heartbeat',
  summary: 'Detects dead or sick agents: leases, missed-heartbeat timeouts, recovery',
  defaultPort: 3001,
  module: HeartbeatModule,
};

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  printServiceHelp(definition);
} else {
  runService(definition).catch((e: Error) => {
    process.stderr.write(`heartbeat failed to start: ${e.message}\n`);
    process.exit(1);
  });
}

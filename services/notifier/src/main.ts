#!/usr/bin/env node
import { printServiceHelp, runService } from '@vigil/platform';
import { NotifierModule } from './notifier.module';

const definition = {
  name: 'notifier',
  summary: 'Emits heal commands and alert events: deduped, grouped, resolved',
  defaultPort: 3004,
  module: NotifierModule,
};

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  printServiceHelp(definition);
} else {
  runService(definition).catch((e: Error) => {
    process.stderr.write(`notifier failed to start: ${e.message}\n`);
    process.exit(1);
  });
}

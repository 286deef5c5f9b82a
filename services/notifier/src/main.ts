#!/usr/bin/env node
import { serviceMain } from '@vigil/platform';
import { NotifierModule } from './notifier.module';

serviceMain({
  name: 'notifier',
  summary: 'Emits heal commands and alert events: deduped, grouped, resolved',
  defaultPort: 3004,
  module: NotifierModule,
});

#!/usr/bin/env node
// First: the maintained OpenTelemetry instrumentations patch http and ioredis as they load.
import '@vigil/platform/dist/instrument';
import { serviceMain } from '@vigil/platform';
import { notifierConfigSchema } from './config';
import { NotifierModule } from './notifier.module';

serviceMain({
  name: 'notifier',
  summary:
    'Heals unreachable or degraded agents (bounded retries with backoff), then alerts once; resolves when the cause clears',
  defaultPort: 3004,
  module: NotifierModule,
  configSchema: notifierConfigSchema,
  consumerGroup: (config) => config.CONSUMER_GROUP,
});

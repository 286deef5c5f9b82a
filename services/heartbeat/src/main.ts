#!/usr/bin/env node
import { serviceMain } from '@vigil/platform';
import { heartbeatConfigSchema } from './config';
import { HeartbeatModule } from './heartbeat.module';

serviceMain({
  name: 'heartbeat',
  summary: 'Detects dead or sick agents: leases judged on broker time, missed-heartbeat timeouts, recovery',
  defaultPort: 3001,
  module: HeartbeatModule,
  configSchema: heartbeatConfigSchema,
  consumerGroup: (config) => config.CONSUMER_GROUP,
});

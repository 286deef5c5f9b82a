#!/usr/bin/env node
// First: the maintained OpenTelemetry instrumentations patch http and ioredis as they load.
import '@vigil/platform/dist/instrument';
import { setFlagsFromString } from 'node:v8';
import { serviceMain } from '@vigil/platform';
import { heartbeatConfigSchema } from './config';
import { HeartbeatModule } from './heartbeat.module';

// The lease table is a large, long-lived heap (100k leases ~ 110 MB) under a steady stream of
// short-lived heartbeat objects. V8 by default lets the old generation grow to several times the
// live size before a full collection; at 1.5x the RSS stays near the working set, for a few
// percent more CPU (bench/heartbeat-detection measures both).
setFlagsFromString('--heap-growing-percent=50');

serviceMain({
  name: 'heartbeat',
  summary: 'Detects dead or sick agents: leases judged on broker time, missed-heartbeat timeouts, recovery',
  defaultPort: 3001,
  module: HeartbeatModule,
  configSchema: heartbeatConfigSchema,
  consumerGroup: (config) => config.CONSUMER_GROUP,
});

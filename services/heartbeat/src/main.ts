#!/usr/bin/env node
import { serviceMain } from '@vigil/platform';
import { HeartbeatModule } from './heartbeat.module';

serviceMain({
  name: 'heartbeat',
  summary: 'Detects dead or sick agents: leases, missed-heartbeat timeouts, recovery',
  defaultPort: 3001,
  module: HeartbeatModule,
});

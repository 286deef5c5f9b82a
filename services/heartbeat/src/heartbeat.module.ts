import { Module } from '@nestjs/common';
import { CONFIG, METRICS, REDIS } from '@vigil/platform';
import type Redis from 'ioredis';
import type { HeartbeatConfig } from './config';
import type { Registry } from 'prom-client';
import { FleetController } from './fleet.controller';
import { createHeartbeatMetrics, HEARTBEAT_METRICS } from './heartbeat-metrics';
import { HeartbeatsController } from './heartbeats.controller';
import { LeaseStore } from './lease-store';
import { LivenessTracker } from './liveness-tracker';

/**
 * Detects dead or sick agents: one lease per agent, judged on broker time per partition, persisted
 * in Redis so that partitions move between instances with their leases; every transition is
 * published once to vigil.agent.liveness; the fleet's status table over HTTP.
 */
@Module({
  controllers: [HeartbeatsController, FleetController],
  providers: [
    LivenessTracker,
    {
      provide: LeaseStore,
      inject: [REDIS, CONFIG],
      useFactory: (redis: Redis, config: HeartbeatConfig) => new LeaseStore(redis, config.CONSUMER_GROUP),
    },
    { provide: HEARTBEAT_METRICS, inject: [METRICS], useFactory: (r: Registry) => createHeartbeatMetrics(r) },
  ],
})
export class HeartbeatModule {}

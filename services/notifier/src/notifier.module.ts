import { Module } from '@nestjs/common';
import { CONFIG, METRICS, REDIS } from '@vigil/platform';
import type Redis from 'ioredis';
import type { Registry } from 'prom-client';
import { AlertsController } from './alerts.controller';
import type { NotifierConfig } from './config';
import { DeliveryStore } from './delivery/delivery-store';
import { WebhookDelivery } from './delivery/webhook-delivery';
import { IncidentProcessor } from './incident-processor';
import { IncidentStore } from './incident-store';
import { IncidentsController } from './incidents.controller';
import { NotifierEventsController } from './notifier-events.controller';
import { createNotifierMetrics, NOTIFIER_METRICS } from './notifier-metrics';
import { NOTIFIER_POLICY } from './notifier-policy.provider';
import { loadPolicy } from './policy';
import { AlertRouter } from './routing/alert-router';
import { GroupStore } from './routing/group-store';
import { SilenceStore } from './routing/silence-store';

/**
 * Turns liveness into action: a heal command for an agent that became unreachable or degraded,
 * retried with backoff, then one alert when healing is exhausted, resolved when the agent is back;
 * HostDown when most of a host's agents are unreachable. Incidents, timers and an outbox live in
 * Redis, sharded like the liveness topic. Alerts are routed, grouped, inhibited and silenced as
 * Alertmanager does it (AlertRouter), and their notifications delivered (WebhookDelivery).
 */
@Module({
  controllers: [NotifierEventsController, IncidentsController, AlertsController],
  providers: [
    IncidentProcessor,
    WebhookDelivery,
    AlertRouter,
    {
      provide: GroupStore,
      inject: [REDIS, CONFIG],
      useFactory: (redis: Redis, config: NotifierConfig) => new GroupStore(redis, config.CONSUMER_GROUP),
    },
    {
      provide: SilenceStore,
      inject: [REDIS, CONFIG],
      useFactory: (redis: Redis, config: NotifierConfig) => new SilenceStore(redis, config.CONSUMER_GROUP),
    },
    {
      provide: DeliveryStore,
      inject: [REDIS, CONFIG],
      useFactory: (redis: Redis, config: NotifierConfig) => new DeliveryStore(redis, config.CONSUMER_GROUP),
    },
    {
      provide: IncidentStore,
      inject: [REDIS, CONFIG],
      useFactory: (redis: Redis, config: NotifierConfig) => new IncidentStore(redis, config.CONSUMER_GROUP),
    },
    {
      provide: NOTIFIER_POLICY,
      inject: [CONFIG],
      useFactory: (c: NotifierConfig) => loadPolicy(c.NOTIFIER_POLICY_FILE),
    },
    { provide: NOTIFIER_METRICS, inject: [METRICS], useFactory: (r: Registry) => createNotifierMetrics(r) },
  ],
})
export class NotifierModule {}

import { Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import type { SchemaCodec } from '@vigil/events';
import { EventProducerPool, type KafkaClient } from '@vigil/kafka';
import { CODEC, CONFIG, KAFKA, METRICS, REDIS, ServiceResources } from '@vigil/platform';
import type Redis from 'ioredis';
import type { Registry } from 'prom-client';
import type { StateSyncConfig } from './config';
import { EntitiesController } from './entities.controller';
import { StateChangeProcessor } from './state-change-processor';
import { StateChangesController } from './state-changes.controller';
import { createStateSyncMetrics } from './state-metrics';
import { StateStore } from './state-store';
import { CHANGELOG_PRODUCERS, STATE_SYNC_METRICS } from './tokens';

/**
 * Dedupes StateChangeEvents by event id, gates them by version atomically in Redis, caches the
 * latest state per entity, publishes each accepted change once to the compacted changelog, and
 * serves the current state over HTTP.
 */
@Module({
  controllers: [StateChangesController, EntitiesController],
  providers: [
    StateChangeProcessor,
    {
      provide: StateStore,
      inject: [REDIS, CONFIG],
      useFactory: (redis: Redis, config: StateSyncConfig) =>
        new StateStore(redis, { windowMs: config.DEDUPE_WINDOW_MS }),
    },
    { provide: STATE_SYNC_METRICS, inject: [METRICS], useFactory: (r: Registry) => createStateSyncMetrics(r) },
    {
      provide: CHANGELOG_PRODUCERS,
      inject: [KAFKA, CODEC, CONFIG, ServiceResources],
      // Observed like the shared producer's sends (vigil_kafka_send_seconds by topic).
      useFactory: (kafka: KafkaClient, codec: SchemaCodec, config: StateSyncConfig, resources: ServiceResources) =>
        new EventProducerPool(kafka, codec, config.CHANGELOG_PRODUCERS, { metrics: resources.eventsMetrics }),
    },
  ],
})
export class StateSyncModule implements OnApplicationShutdown {
  constructor(@Inject(CHANGELOG_PRODUCERS) private readonly producers: EventProducerPool) {}

  /** After the consumer stopped (Nest closes the transport before this hook): no batch still sends. */
  async onApplicationShutdown(): Promise<void> {
    await this.producers.disconnect();
  }
}

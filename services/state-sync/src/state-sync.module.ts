import { Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { Topics, type SchemaCodec } from '@vigil/events';
import { PartitionProducers, type KafkaAdminFacade, type KafkaClient } from '@vigil/kafka';
import { CODEC, CONFIG, KAFKA, METRICS, parseRedisTarget, REDIS, ServiceResources } from '@vigil/platform';
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
 * The partitions of vigil.agent.state-changes as the broker says, asked again after a minute (a
 * topic only gains partitions, and rarely); the catalogue's count until the broker answers.
 */
function inputPartitions(admin: KafkaAdminFacade): () => Promise<number[]> {
  let known = Array.from({ length: Topics.stateChanges.partitions }, (_, p) => p);
  let askedAt = 0;
  return async () => {
    if (Date.now() - askedAt > 60_000) {
      askedAt = Date.now();
      const ends = await admin.highWatermarks(Topics.stateChanges.name).catch(() => undefined);
      if (ends && ends.size > 0) known = [...ends.keys()].sort((a, b) => a - b);
    }
    return known;
  };
}

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
      inject: [REDIS, CONFIG, ServiceResources],
      useFactory: (redis: Redis, config: StateSyncConfig, resources: ServiceResources) =>
        new StateStore(redis, { windowMs: config.DEDUPE_WINDOW_MS }, inputPartitions(resources.admin), {
          replicas: config.REDIS_WAIT_REPLICAS ?? (parseRedisTarget(config.REDIS_URL).cluster ? 1 : 0),
          timeoutMs: config.REDIS_WAIT_TIMEOUT_MS,
        }),
    },
    { provide: STATE_SYNC_METRICS, inject: [METRICS], useFactory: (r: Registry) => createStateSyncMetrics(r) },
    {
      provide: CHANGELOG_PRODUCERS,
      inject: [KAFKA, CODEC, CONFIG, ServiceResources],
      // One transactional id per changelog partition, named after the group: the instances of one
      // deployment fence each other, another deployment on the same cluster is left alone.
      // Observed like the shared producer's sends (vigil_kafka_send_seconds by topic).
      useFactory: (kafka: KafkaClient, codec: SchemaCodec, config: StateSyncConfig, resources: ServiceResources) =>
        new PartitionProducers(kafka, codec, `${config.CONSUMER_GROUP}.changelog`, {
          metrics: resources.eventsMetrics,
        }),
    },
  ],
})
export class StateSyncModule implements OnApplicationShutdown {
  constructor(@Inject(CHANGELOG_PRODUCERS) private readonly producers: PartitionProducers) {}

  /** After the consumer stopped (Nest closes the transport before this hook): no batch still sends. */
  async onApplicationShutdown(): Promise<void> {
    await this.producers.disconnect();
  }
}

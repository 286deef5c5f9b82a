import { Module } from '@nestjs/common';
import { CONFIG, METRICS, REDIS } from '@vigil/platform';
import type Redis from 'ioredis';
import type { Registry } from 'prom-client';
import type { StateSyncConfig } from './config';
import { EntitiesController } from './entities.controller';
import { StateChangeProcessor } from './state-change-processor';
import { StateChangesController } from './state-changes.controller';
import { createStateSyncMetrics } from './state-metrics';
import { StateStore } from './state-store';
import { STATE_SYNC_METRICS } from './tokens';

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
        new StateStore(redis, { windowMs: config.DEDUPE_WINDOW_MS, maxIds: config.DEDUPE_MAX_IDS }),
    },
    { provide: STATE_SYNC_METRICS, inject: [METRICS], useFactory: (r: Registry) => createStateSyncMetrics(r) },
  ],
})
export class StateSyncModule {}

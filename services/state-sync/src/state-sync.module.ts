import { Module } from '@nestjs/common';

/**
 * Dedupes StateChangeEvents idempotently, gates them by version, caches the latest state in Redis.
 * A shell for now: health, metrics, config and graceful shutdown come from @vigil/platform;
 * the service's handlers arrive with its own issue.
 */
@Module({})
export class StateSyncModule {}

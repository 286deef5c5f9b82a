import { Module } from '@nestjs/common';

/**
 * Emits heal commands and alert events: deduped, grouped, resolved.
 * A shell for now: health, metrics, config and graceful shutdown come from @vigil/platform;
 * the service's handlers arrive with its own issue.
 */
@Module({})
export class NotifierModule {}

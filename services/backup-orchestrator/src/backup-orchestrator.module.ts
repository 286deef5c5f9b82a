import { Module } from '@nestjs/common';

/**
 * Triggers, verifies and prunes agent backups and plans restores in order.
 * A shell for now: health, metrics, config and graceful shutdown come from @vigil/platform;
 * the service's handlers arrive with its own issue.
 */
@Module({})
export class BackupOrchestratorModule {}

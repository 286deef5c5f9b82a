import { Module } from '@nestjs/common';

/**
 * Detects dead or sick agents: leases, missed-heartbeat timeouts, recovery.
 * A shell for now: health, metrics, config and graceful shutdown come from @vigil/platform;
 * the service's handlers arrive with its own issue.
 */
@Module({})
export class HeartbeatModule {}

import { Module } from '@nestjs/common';
import { FileSystemStore, S3Store, type BackupStore } from '@vigil/backup';
import { CONFIG, REDIS } from '@vigil/platform';
import type Redis from 'ioredis';
import { BACKUP_POLICIES, BACKUP_STORE, BackupJobs } from './backup-jobs';
import { BackupEventsController } from './backup-events.controller';
import { BackupScheduler } from './backup-scheduler';
import { BackupsController } from './backups.controller';
import type { OrchestratorConfig } from './config';
import { JobStore } from './job-store';
import { loadPolicies } from './policy';
import { RestorePlanStore } from './restore/restore-plan-store';
import { RestorePlans } from './restore/restore-plans';
import { RestorePlansController } from './restore/restore-plans.controller';

/** The store agents write to: a bucket when BACKUP_S3_BUCKET is set, else a directory. */
async function storeOf(c: OrchestratorConfig): Promise<BackupStore> {
  if (!c.BACKUP_S3_BUCKET) return new FileSystemStore(c.BACKUP_STORE_DIR);
  const store = await S3Store.create({
    bucket: c.BACKUP_S3_BUCKET,
    prefix: c.BACKUP_S3_PREFIX,
    endpoint: c.S3_ENDPOINT,
    region: c.S3_REGION,
    credentials:
      c.S3_ACCESS_KEY_ID && c.S3_SECRET_ACCESS_KEY
        ? { accessKeyId: c.S3_ACCESS_KEY_ID, secretAccessKey: c.S3_SECRET_ACCESS_KEY }
        : undefined,
  });
  await store.ensureBucket();
  return store;
}

/**
 * Decides when agents back up (cron schedules per label selector, manual requests), sends the
 * commands, verifies every reported archive by reading it back, keeps what is verified and prunes
 * by retention; plans restores by tier and dependency and runs them step by step. Jobs and plans
 * live in Redis, shared by every instance.
 */
@Module({
  controllers: [BackupEventsController, BackupsController, RestorePlansController],
  providers: [
    BackupJobs,
    BackupScheduler,
    RestorePlans,
    {
      provide: RestorePlanStore,
      inject: [REDIS, CONFIG],
      useFactory: (redis: Redis, c: OrchestratorConfig) => new RestorePlanStore(redis, c.CONSUMER_GROUP),
    },
    {
      provide: JobStore,
      inject: [REDIS, CONFIG],
      useFactory: (redis: Redis, c: OrchestratorConfig) => new JobStore(redis, c.CONSUMER_GROUP),
    },
    {
      provide: BACKUP_STORE,
      inject: [CONFIG],
      useFactory: storeOf,
    },
    {
      provide: BACKUP_POLICIES,
      inject: [CONFIG],
      useFactory: (c: OrchestratorConfig) => loadPolicies(c.BACKUP_POLICY_FILE),
    },
  ],
})
export class BackupOrchestratorModule {}

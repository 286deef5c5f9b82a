import { baseConfigSchema } from '@vigil/platform';
import { z } from 'zod';

export const orchestratorConfigSchema = baseConfigSchema.extend({
  CONSUMER_GROUP: z
    .string()
    .min(1)
    .default('backup-orchestrator')
    .describe('Kafka consumer group of all orchestrator instances (they share jobs in Redis)'),
  BACKUP_POLICY_FILE: z
    .string()
    .optional()
    .describe('YAML or JSON backup policies (README "backup-orchestrator"); without it nothing is scheduled'),
  BACKUP_STORE_DIR: z
    .string()
    .min(1)
    .default('.vigil/backups')
    .describe('the directory store agents write archives to and the orchestrator verifies and prunes them in'),
  BACKUP_S3_BUCKET: z
    .string()
    .optional()
    .describe('an S3 bucket as the store instead of BACKUP_STORE_DIR (created if missing); S3_* say where and who'),
  BACKUP_S3_PREFIX: z.string().default('').describe('prepended to every key in the bucket'),
  S3_ENDPOINT: z.string().url().optional().describe('an S3-compatible server (path-style); unset: AWS'),
  S3_REGION: z.string().default('us-east-1').describe('the bucket region'),
  S3_ACCESS_KEY_ID: z.string().optional().describe('with S3_SECRET_ACCESS_KEY; unset: the AWS SDK default chain'),
  S3_SECRET_ACCESS_KEY: z.string().optional().describe('with S3_ACCESS_KEY_ID'),
  TICK_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(50)
    .max(60_000)
    .default(1000)
    .describe('how often schedules, timeouts, retries and the outbox are looked at'),
  MISFIRE_GRACE_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(300_000)
    .describe('a schedule slot missed by more than this (the orchestrator was down) is skipped, not fired late'),
  SCRUB_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(3_600_000)
    .describe(
      'how often every kept backup is read back and checked again (0: never; POST /backups/:job/verify does one)',
    ),
});

export type OrchestratorConfig = z.infer<typeof orchestratorConfigSchema>;

import { baseConfigSchema } from '@vigil/platform';
import { z } from 'zod';

export const stateSyncConfigSchema = baseConfigSchema.extend({
  CONSUMER_GROUP: z.string().min(1).default('state-sync').describe('Kafka consumer group of all state-sync instances'),
  DEDUPE_WINDOW_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .default(3_600_000)
    .describe(
      'how long an applied event id is remembered per entity (duplicates older than this are still refused by the version gate)',
    ),
  DEDUPE_MAX_IDS: z.coerce
    .number()
    .int()
    .min(10)
    .default(10_000)
    .describe('most event ids remembered per entity; must exceed the events one entity gets in one uncommitted batch'),
  RESTORE_SLICE_RECORDS: z.coerce
    .number()
    .int()
    .min(100)
    .default(5000)
    .describe(
      'changelog records written to Redis at a time during a restore; the checkpoint moves after each slice, so a process killed mid-restore redoes at most this many',
    ),
  FAULT_INJECT: z
    .string()
    .regex(/^(crash-after-apply|crash-after-publish):\d+$/)
    .optional()
    .describe('tests only: SIGKILL this process at a crash window on the Nth batch, e.g. crash-after-apply:3'),
});

export type StateSyncConfig = z.infer<typeof stateSyncConfigSchema>;
export const STATE_SYNC_CONFIG = Symbol('state-sync.config');

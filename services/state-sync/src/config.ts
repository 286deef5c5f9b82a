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
      "longest an applied event's id is kept while the changelog may not hold it yet (publishing forgets it at once; older duplicates are refused by the version gate)",
    ),
  COMMIT_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(0)
    .max(60_000)
    .default(500)
    .describe(
      "commit input offsets this often, all partitions in one request, off the batches' path (0: after every batch); a crash redelivers up to this much, which the version gate and the unpublished ids absorb",
    ),
  CONSUMER_MAX_BYTES: baseConfigSchema.shape.CONSUMER_MAX_BYTES.unwrap()
    .default(2 * 1024 * 1024)
    .describe(
      'bytes of one fetch over all partitions: the records in memory under a backlog (about 2.3 KB of heap each for 100-byte events); 2 MiB applied as fast as 12 MiB on the state-sync-memory bench at half the RSS',
    ),
  RESTORE_SLICE_RECORDS: z.coerce
    .number()
    .int()
    .min(100)
    .default(5000)
    .describe(
      'changelog records written to Redis at a time during a restore; the checkpoint moves after each slice, so a process killed mid-restore redoes at most this many',
    ),
  REDIS_WAIT_REPLICAS: z.coerce
    .number()
    .int()
    .min(0)
    .max(5)
    .optional()
    .describe(
      "Redis replicas that must hold a batch's markers before its offsets are committed (WAIT); default 1 on a Redis Cluster (a failover promotes a replica), 0 on a single Redis",
    ),
  REDIS_WAIT_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(10)
    .default(2000)
    .describe('how long a batch waits for those replicas before it fails and is retried'),
  FAULT_INJECT: z
    .string()
    .regex(/^(crash|pause)-after-(apply|publish):\d+$/)
    .optional()
    .describe(
      'tests only: SIGKILL (crash-) or SIGSTOP once (pause-) this process at a window on the Nth batch, e.g. crash-after-apply:3',
    ),
});

export type StateSyncConfig = z.infer<typeof stateSyncConfigSchema>;
export const STATE_SYNC_CONFIG = Symbol('state-sync.config');

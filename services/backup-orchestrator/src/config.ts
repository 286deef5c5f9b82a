import { baseConfigSchema } from '@vigil/platform';
import { z } from 'zod';

/**
 * Archive MB/s of the agent's restore, measured by bench/backup-throughput on its 1 GB tree on 2
 * cores (52 for a full, 49 for a full + incremental; README "Benchmarks").
 */
const DEFAULT_RESTORE_MBPS = 50;

/** `90`, `500ms`, `30s`, `15m`, `8h` in ms (a bare number is ms). */
function durationMs(text: string): number | undefined {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(text);
  if (!m) return undefined;
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h'];
}

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
  RESTORE_RTO: z
    .string()
    .default('15m,1h,8h')
    .transform((v, ctx) => {
      const out = v.split(',').map((d) => durationMs(d.trim()));
      if (out.some((d) => d === undefined)) ctx.addIssue({ code: 'custom', message: `not a list of durations: ${v}` });
      return out as number[];
    })
    .describe('recovery time objective per priority tier, tier 0 first (e.g. 15m,1h,8h); later tiers use the last'),
  RESTORE_THROUGHPUT_MBPS: z.coerce
    .number()
    .positive()
    .default(DEFAULT_RESTORE_MBPS)
    .describe('restore speed (MB/s of archive) the plan estimates from; bench/backup-throughput measures it'),
  RESTORE_PARALLELISM: z.coerce.number().int().min(1).max(64).default(2).describe('restore steps running at once'),
  RESTORE_STEP_OVERHEAD_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(5_000)
    .describe('fixed time per step in estimates (command, checks, swap), besides bytes and the health gate'),
  RESTORE_STEP_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .default(600_000)
    .describe('a restore step with no result after this (or three times its estimate, if longer) fails the plan'),
  RESTORE_HEALTH_TIMEOUT_MS: z.coerce
    .number()
    .int()
    .min(1000)
    .default(300_000)
    .describe('a restored agent with no healthy heartbeat after this fails the plan'),
  RESTORE_RESEND_AFTER_MS: z.coerce
    .number()
    .int()
    .min(100)
    .default(10_000)
    .describe('a restore command the agent has not acknowledged after this is sent again (it dedupes)'),
});

export type OrchestratorConfig = z.infer<typeof orchestratorConfigSchema>;

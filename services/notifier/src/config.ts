import { baseConfigSchema } from '@vigil/platform';
import { z } from 'zod';

export const notifierConfigSchema = baseConfigSchema.extend({
  CONSUMER_GROUP: z.string().min(1).default('notifier').describe('Kafka consumer group of all notifier instances'),
  NOTIFIER_POLICY_FILE: z
    .string()
    .optional()
    .describe(
      'YAML or JSON policy: heal actions per cause, attempts, timeouts, backoff, alert severities (README "notifier"); defaults without it',
    ),
  SWEEP_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(10)
    .max(10_000)
    .default(200)
    .describe('how often due retries and heal timeouts are looked for in Redis; adds at most this to each'),
  OUTBOX_REPUBLISH_AFTER_MS: z.coerce
    .number()
    .int()
    .min(100)
    .default(5_000)
    .describe('an outbox entry older than this was left by a writer that stopped; the shard owner publishes it'),
});

export type NotifierConfig = z.infer<typeof notifierConfigSchema>;

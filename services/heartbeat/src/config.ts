import { baseConfigSchema } from '@vigil/platform';
import { z } from 'zod';

export const heartbeatConfigSchema = baseConfigSchema.extend({
  CONSUMER_GROUP: z.string().min(1).default('heartbeat').describe('Kafka consumer group of all heartbeat instances'),
  JUDGE_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(10)
    .max(5000)
    .default(100)
    .describe(
      'how often the high watermarks are read (to know a partition is caught up) and leases judged; adds at most this to detection latency',
    ),
  FLEET_VIEW_LIMIT: z.coerce
    .number()
    .int()
    .min(1)
    .default(1000)
    .describe('most agents one GET /fleet returns (use ?state= and ?limit= to narrow)'),
});

export type HeartbeatConfig = z.infer<typeof heartbeatConfigSchema>;

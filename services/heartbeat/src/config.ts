import { baseConfigSchema } from '@vigil/platform';
import { z } from 'zod';

export const heartbeatConfigSchema = baseConfigSchema.extend({
  CONSUMER_GROUP: z.string().min(1).default('heartbeat').describe('Kafka consumer group of all heartbeat instances'),
  JUDGE_INTERVAL_MS: z.coerce
    .number()
    .int()
    .min(10)
    .max(5000)
    .default(50)
    .describe(
      'how often the high watermarks are read (to know a partition is caught up) and leases judged; adds at most this to detection latency',
    ),
  GAP_GRACE_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(5000)
    .describe(
      'after this instance could not reach the broker, or a heartbeat partition changed leader, extra time agents get to be heard again before their silence counts (clients reconnect with backoff); delays detection of agents that died in the outage by as much',
    ),
  FORGET_UNREACHABLE_AFTER_MS: z.coerce
    .number()
    .int()
    .min(0)
    .default(86_400_000)
    .describe(
      'an agent unreachable this long is dropped from the leases and the fleet view, with a `deregistered` event (reason "forgotten"), so that churning fleets do not grow memory and Redis forever; 0 keeps them',
    ),
  FLEET_VIEW_LIMIT: z.coerce
    .number()
    .int()
    .min(1)
    .default(1000)
    .describe('most agents one GET /fleet returns (use ?state= and ?limit= to narrow)'),
});

export type HeartbeatConfig = z.infer<typeof heartbeatConfigSchema>;

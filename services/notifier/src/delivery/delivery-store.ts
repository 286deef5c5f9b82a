import { deliveryKeys } from '@vigil/redis-keys';
import type Redis from 'ioredis';

/** A group's notification waiting for its receiver's 2xx. */
export interface PendingDelivery {
  /** The idempotency key: group, flush and receiver (the receiver's name ends it, after a slash). */
  id: string;
  receiver: string;
  groupKey: string;
  status: 'firing' | 'resolved';
  /** The alerts it carries (for logs and dead letters). */
  fingerprints: string[];
  /** The traces of the alert records it carries: its HTTP span is the first one's child and links to all. */
  traceparents?: string[];
  /** What is POSTed: Alertmanager's webhook JSON, or its API v2 alert list. */
  body: unknown;
  /** The group shard it was queued on. */
  shard: number;
  attempts: number;
  lastError?: string;
  queuedAt: number;
}

/**
 * Pending notifications per shard (alerts partition), in Redis: they survive a restart. They are
 * queued by the flush of their group (GroupStore.commit), in the same script.
 */
export class DeliveryStore {
  constructor(
    private readonly redis: Redis,
    private readonly group: string,
  ) {}

  /** Ids of the deliveries due by `now`, oldest first. */
  dueIds(shard: number, now: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(deliveryKeys(this.group, shard).due, 0, now, 'LIMIT', 0, limit);
  }

  async load(shard: number, ids: string[]): Promise<PendingDelivery[]> {
    if (ids.length === 0) return [];
    const raw = await this.redis.hmget(deliveryKeys(this.group, shard).pending, ...ids);
    return raw.flatMap((r) => (r ? [JSON.parse(r) as PendingDelivery] : []));
  }

  async retryAt(shard: number, d: PendingDelivery, at: number): Promise<void> {
    const k = deliveryKeys(this.group, shard);
    await this.redis.multi().hset(k.pending, d.id, JSON.stringify(d)).zadd(k.due, at, d.id).exec();
  }

  async done(shard: number, id: string): Promise<void> {
    const k = deliveryKeys(this.group, shard);
    await this.redis.multi().hdel(k.pending, id).zrem(k.due, id).exec();
  }

  /** Pending deliveries over every shard, per receiver (the metrics' source). */
  async countPending(shards: number): Promise<number> {
    // One command per shard: each shard is its own slot, and a Redis Cluster refuses a pipeline across slots.
    const counts = await Promise.all(
      Array.from({ length: shards }, (_, s) => this.redis.hlen(deliveryKeys(this.group, s).pending)),
    );
    return counts.reduce((a, b) => a + b, 0);
  }
}

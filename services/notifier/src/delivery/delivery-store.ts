import type { AlertEvent } from '@vigil/events';
import { deliveryKeys } from '@vigil/redis-keys';
import type Redis from 'ioredis';

/** A notification waiting for its receiver's 2xx. */
export interface PendingDelivery {
  /** The idempotency key: alert state + receiver. */
  id: string;
  receiver: string;
  alert: AlertEvent;
  /** Where the alert record was read: a dead letter names it. */
  source: { topic: string; partition: number; offset: string; timestamp: number };
  attempts: number;
  lastError?: string;
  queuedAt: number;
}

/** Pending webhook deliveries per shard (alerts partition), in Redis: they survive a restart. */
export class DeliveryStore {
  constructor(
    private readonly redis: Redis,
    private readonly group: string,
  ) {}

  /**
   * Queues deliveries due now. One already pending (the alerts record read again after a crash)
   * stays as it is, attempts and all.
   */
  async enqueue(shard: number, deliveries: PendingDelivery[], now: number): Promise<void> {
    if (deliveries.length === 0) return;
    const k = deliveryKeys(this.group, shard);
    const tx = this.redis.multi();
    for (const d of deliveries) {
      tx.hsetnx(k.pending, d.id, JSON.stringify(d));
      tx.zadd(k.due, 'NX', now, d.id);
    }
    const results = await tx.exec();
    const failed = results?.find(([err]) => err);
    if (!results || failed) throw new Error(`delivery queue write failed: ${failed?.[0]?.message ?? 'aborted'}`);
  }

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
    const pipeline = this.redis.pipeline();
    for (let s = 0; s < shards; s++) pipeline.hlen(deliveryKeys(this.group, s).pending);
    let n = 0;
    for (const [err, count] of (await pipeline.exec()) ?? []) if (!err) n += Number(count);
    return n;
  }
}

import type { AlertEvent } from '@vigil/events';
import { alertIndexKeys, deliveryKeys } from '@vigil/redis-keys';
import type Redis from 'ioredis';
import type { PendingDelivery } from '../delivery/delivery-store';
import type { GroupMeta } from './alert-groups';

/**
 * Puts an alert's newest state into its group, opening the group when it is new.
 * KEYS: groups, groupDue, groupAlerts. ARGV: group id, fingerprint, alert JSON, startsAt, status,
 * new group's meta JSON, its first flush (ms).
 * Newer means a later start, or the resolution of the same start; an older or equal state (a
 * redelivery) changes nothing. A resolution of an alert the group does not hold opens nothing.
 * Returns 2 when it opened the group, 1 when it changed it, 0 when nothing changed.
 */
const INGEST = `
local cur = redis.call('HGET', KEYS[3], ARGV[2])
local startsAt = tonumber(ARGV[4])
if cur then
  local c = cjson.decode(cur)
  if startsAt < c.startsAt then return 0 end
  if startsAt == c.startsAt and (c.status == 'resolved' or ARGV[5] == 'firing') then return 0 end
elseif ARGV[5] == 'resolved' then
  return 0
end
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[6])
  redis.call('ZADD', KEYS[2], ARGV[7], ARGV[1])
  return 2
end
return 1
`;

/**
 * Lands a flush: only on the sequence it read (another owner may have flushed meanwhile). Removes
 * the resolved alerts it saw (unless they changed since), queues the notification, and schedules
 * the next flush, or ends the group when nothing is left in it.
 * KEYS: groups, groupDue, groupAlerts, pending, due. ARGV: group id, expected seq, meta JSON, next
 * flush (ms), delivery id ('' for none), delivery JSON, now, then fingerprint / alert JSON pairs.
 */
const COMMIT = `
local m = redis.call('HGET', KEYS[1], ARGV[1])
if not m or cjson.decode(m).seq ~= tonumber(ARGV[2]) then return 0 end
for i = 8, #ARGV, 2 do
  if redis.call('HGET', KEYS[3], ARGV[i]) == ARGV[i + 1] then redis.call('HDEL', KEYS[3], ARGV[i]) end
end
if ARGV[5] ~= '' then
  redis.call('HSETNX', KEYS[4], ARGV[5], ARGV[6])
  redis.call('ZADD', KEYS[5], 'NX', ARGV[7], ARGV[5])
end
if redis.call('HLEN', KEYS[3]) == 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
end
return 1
`;

/**
 * Keeps the index of open alerts: the newest state of each, removed when resolved.
 * KEYS: open. ARGV: fingerprint, alert JSON, startsAt, status. Returns 1 when it changed.
 */
const INDEX = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local startsAt = tonumber(ARGV[3])
if cur then
  local c = cjson.decode(cur)
  if startsAt < c.startsAt then return 0 end
  if startsAt == c.startsAt and ARGV[4] == 'firing' then return 0 end
end
if ARGV[4] == 'resolved' then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`;

type WithScripts = Redis & {
  ingestGroupAlert(...args: string[]): Promise<number>;
  commitGroupFlush(...args: string[]): Promise<number>;
  indexAlert(...args: string[]): Promise<number>;
};

/** An alert as a group keeps it: with the trace of the record that brought it, for the notification's span. */
export type GroupedAlert = AlertEvent & { traceparent?: string };

export interface LoadedGroup {
  meta: GroupMeta;
  alerts: GroupedAlert[];
  /** Each alert as stored: a flush only removes what it saw. */
  raw: Map<string, string>;
}

/** Alert groups per shard (flushed by the shard's owner), the open alerts and the inhibition index. */
export class GroupStore {
  private readonly redis: WithScripts;
  private readonly index: ReturnType<typeof alertIndexKeys>;

  constructor(
    redis: Redis,
    private readonly group: string,
  ) {
    this.redis = redis as WithScripts;
    this.index = alertIndexKeys(group);
    if (!('ingestGroupAlert' in redis)) {
      redis.defineCommand('ingestGroupAlert', { numberOfKeys: 3, lua: INGEST });
      redis.defineCommand('commitGroupFlush', { numberOfKeys: 5, lua: COMMIT });
      redis.defineCommand('indexAlert', { numberOfKeys: 1, lua: INDEX });
    }
  }

  /** Puts the alert in its group; 'opened' when that opened the group (its first flush is due at `firstFlushAt`). */
  async ingest(
    shard: number,
    meta: GroupMeta,
    alert: AlertEvent,
    firstFlushAt: number,
    traceparent?: string,
  ): Promise<'opened' | 'changed' | 'unchanged'> {
    const k = deliveryKeys(this.group, shard);
    const changed = await this.redis.ingestGroupAlert(
      k.groups,
      k.groupDue,
      k.groupAlerts(meta.id),
      meta.id,
      alert.fingerprint,
      JSON.stringify(traceparent ? { ...alert, traceparent } : alert),
      String(alert.startsAt),
      alert.status,
      JSON.stringify(meta),
      String(firstFlushAt),
    );
    return changed === 2 ? 'opened' : changed === 1 ? 'changed' : 'unchanged';
  }

  /** Keeps the open-alert index and the inhibition sets (`slots`) in step with the alert's state. */
  async indexAlert(alert: AlertEvent, slots: string[]): Promise<void> {
    const firing = alert.status === 'firing';
    const p = this.redis.pipeline() as ReturnType<Redis['pipeline']> & { indexAlert(...args: string[]): unknown };
    p.indexAlert(this.index.open, alert.fingerprint, JSON.stringify(alert), String(alert.startsAt), alert.status);
    for (const slot of slots) {
      if (firing) p.sadd(this.index.inhibitSources(slot), alert.fingerprint);
      else p.srem(this.index.inhibitSources(slot), alert.fingerprint);
    }
    for (const [err] of (await p.exec()) ?? []) if (err) throw err;
  }

  dueGroups(shard: number, now: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(deliveryKeys(this.group, shard).groupDue, 0, now, 'LIMIT', 0, limit);
  }

  async load(shard: number, ids: string[]): Promise<LoadedGroup[]> {
    if (ids.length === 0) return [];
    const k = deliveryKeys(this.group, shard);
    const p = this.redis.pipeline();
    p.hmget(k.groups, ...ids);
    for (const id of ids) p.hgetall(k.groupAlerts(id));
    const results = (await p.exec()) ?? [];
    for (const [err] of results) if (err) throw err;
    const metas = results[0]![1] as Array<string | null>;
    return ids.flatMap((_, i) => {
      const meta = metas[i];
      if (!meta) return [];
      const raw = new Map(Object.entries(results[i + 1]![1] as Record<string, string>));
      return [
        {
          meta: JSON.parse(meta) as GroupMeta,
          alerts: [...raw.values()].map((r) => JSON.parse(r) as GroupedAlert),
          raw,
        },
      ];
    });
  }

  /** Lands a flush (see COMMIT); false when another flush of the group came first. */
  async commit(
    shard: number,
    read: LoadedGroup,
    next: GroupMeta,
    nextAt: number,
    remove: AlertEvent[],
    delivery: PendingDelivery | undefined,
    now: number,
  ): Promise<boolean> {
    const k = deliveryKeys(this.group, shard);
    const pairs = remove.flatMap((a) => {
      const raw = read.raw.get(a.fingerprint);
      return raw === undefined ? [] : [a.fingerprint, raw];
    });
    const landed = await this.redis.commitGroupFlush(
      k.groups,
      k.groupDue,
      k.groupAlerts(read.meta.id),
      k.pending,
      k.due,
      read.meta.id,
      String(read.meta.seq),
      JSON.stringify(next),
      String(nextAt),
      delivery?.id ?? '',
      delivery ? JSON.stringify(delivery) : '',
      String(now),
      ...pairs,
    );
    return landed === 1;
  }

  /** For each slot, the fingerprints of the firing source alerts in it. */
  async inhibitSources(slots: string[]): Promise<Map<string, string[]>> {
    const unique = [...new Set(slots)];
    if (unique.length === 0) return new Map();
    const p = this.redis.pipeline();
    for (const s of unique) p.smembers(this.index.inhibitSources(s));
    const results = (await p.exec()) ?? [];
    return new Map(
      unique.map((s, i) => {
        const [err, members] = results[i]!;
        if (err) throw err;
        return [s, members as string[]];
      }),
    );
  }

  async openAlerts(): Promise<AlertEvent[]> {
    return Object.values(await this.redis.hgetall(this.index.open)).map((r) => JSON.parse(r) as AlertEvent);
  }

  /** Groups over every shard (an operator's view; small: one per host and route at most). */
  async allGroups(shards: number): Promise<GroupMeta[]> {
    // One command per shard: each shard is its own slot, and a Redis Cluster refuses a pipeline across slots.
    const perShard = await Promise.all(
      Array.from({ length: shards }, (_, s) => this.redis.hvals(deliveryKeys(this.group, s).groups)),
    );
    return perShard.flat().map((v) => JSON.parse(v) as GroupMeta);
  }
}

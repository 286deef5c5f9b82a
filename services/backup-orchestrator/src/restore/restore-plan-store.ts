import { backupKeys } from '@vigil/redis-keys';
import type Redis from 'ioredis';
import { isActive, type RestorePlan } from './restore-progress';

/**
 * Writes a plan if it is still at the revision read, and keeps the active set in step.
 *   KEYS plans, active   ARGV plan id, revision read, plan JSON, '1' active / '0' not
 * Returns 1 when written, 0 when someone wrote it meanwhile.
 */
const WRITE = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or tostring(cjson.decode(cur).rev) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[4] == '1' then redis.call('SADD', KEYS[2], ARGV[1]) else redis.call('SREM', KEYS[2], ARGV[1]) end
return 1
`;

/**
 * Keeps an agent's newest healthy heartbeat time, only while the agent is awaited and only if newer.
 *   KEYS health   ARGV agent id, broker time (ms)
 */
const HEALTHY = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur and tonumber(cur) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
`;

type WithScripts = Redis & {
  writeRestorePlan(...args: string[]): Promise<number>;
  restoreHealthy(...args: string[]): Promise<number>;
};

/** Restore plans and their progress in Redis: every instance advances them, a restart resumes them. */
export class RestorePlanStore {
  private readonly redis: WithScripts;
  private readonly k: ReturnType<typeof backupKeys>;

  constructor(redis: Redis, group: string) {
    this.redis = redis as WithScripts;
    this.k = backupKeys(group);
    if (!('writeRestorePlan' in redis)) {
      redis.defineCommand('writeRestorePlan', { numberOfKeys: 2, lua: WRITE });
      redis.defineCommand('restoreHealthy', { numberOfKeys: 1, lua: HEALTHY });
    }
  }

  async create(plan: RestorePlan): Promise<void> {
    await this.redis.hset(this.k.restorePlans, plan.planId, JSON.stringify(plan));
  }

  /** Stores `next` (its revision bumped here) over `read`; false when someone wrote it meanwhile. */
  async write(read: RestorePlan, next: RestorePlan): Promise<RestorePlan | undefined> {
    const stored = { ...next, rev: read.rev + 1 };
    const written = await this.redis.writeRestorePlan(
      this.k.restorePlans,
      this.k.restoreActive,
      read.planId,
      String(read.rev),
      JSON.stringify(stored),
      isActive(stored) ? '1' : '0',
    );
    return written === 1 ? stored : undefined;
  }

  async load(planId: string): Promise<RestorePlan | undefined> {
    const raw = await this.redis.hget(this.k.restorePlans, planId);
    return raw ? (JSON.parse(raw) as RestorePlan) : undefined;
  }

  async all(): Promise<RestorePlan[]> {
    return Object.values(await this.redis.hgetall(this.k.restorePlans)).map((r) => JSON.parse(r) as RestorePlan);
  }

  active(): Promise<string[]> {
    return this.redis.smembers(this.k.restoreActive);
  }

  async markHealthy(agentId: string, at: number): Promise<void> {
    await this.redis.restoreHealthy(this.k.restoreHealth, agentId, String(at));
  }

  /** Newest healthy heartbeat per agent (of those asked about). */
  async healthy(agentIds: string[]): Promise<Map<string, number>> {
    if (agentIds.length === 0) return new Map();
    const values = await this.redis.hmget(this.k.restoreHealth, ...agentIds);
    return new Map(agentIds.flatMap((id, i) => (values[i] ? [[id, Number(values[i])] as const] : [])));
  }

  /** Forgets agents no plan awaits any more (keeps the hash the size of what is awaited). */
  async forgetHealth(agentIds: string[]): Promise<void> {
    if (agentIds.length > 0) await this.redis.hdel(this.k.restoreHealth, ...agentIds);
  }
}

import type { AgentRegistration, BackupCommand, BackupVerified } from '@vigil/events';
import { backupKeys } from '@vigil/redis-keys';
import type Redis from 'ioredis';
import { FINAL, type Job } from './job';
import type { KeptBackup } from './retention';

/** What a job still has to publish: its command or its verdict. */
export type OutboxEntry = { at: number } & (
  { kind: 'command'; value: BackupCommand } | { kind: 'verdict'; value: BackupVerified }
);

/**
 * Creates a job unless one with its id exists (the trigger was seen before, or by another instance).
 *   KEYS jobs, jobDue, outbox   ARGV job id, job JSON, due (ms), outbox entry JSON ('' none)
 * Returns 1 when created.
 */
const CREATE = `
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if ARGV[4] ~= '' then redis.call('HSET', KEYS[3], ARGV[1], ARGV[4]) end
return 1
`;

/**
 * Writes a job if it is still at the revision read, with its due time ('' = nothing due: decided)
 * and what to publish. KEYS jobs, jobDue, outbox   ARGV job id, revision read, job JSON, due, outbox
 * entry JSON ('' none). Returns 1 when written, 0 when someone wrote it meanwhile.
 */
const WRITE = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if not cur or tostring(cjson.decode(cur).rev) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[4] == '' then redis.call('ZREM', KEYS[2], ARGV[1]) else redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1]) end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[3], ARGV[1], ARGV[5]) end
return 1
`;

/** Removes an outbox entry if it is still the one published. KEYS outbox  ARGV job id, entry JSON. */
const PUBLISHED = `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return redis.call('HDEL', KEYS[1], ARGV[1]) end
return 0
`;

type WithScripts = Redis & {
  createJob(...args: string[]): Promise<number>;
  writeJob(...args: string[]): Promise<number>;
  outboxPublished(...args: string[]): Promise<number>;
};

/** Jobs, their outbox, the agents and the kept backups, in Redis, shared by every instance. */
export class JobStore {
  private readonly redis: WithScripts;
  private readonly k: ReturnType<typeof backupKeys>;

  constructor(redis: Redis, group: string) {
    this.redis = redis as WithScripts;
    this.k = backupKeys(group);
    if (!('createJob' in redis)) {
      redis.defineCommand('createJob', { numberOfKeys: 3, lua: CREATE });
      redis.defineCommand('writeJob', { numberOfKeys: 3, lua: WRITE });
      redis.defineCommand('outboxPublished', { numberOfKeys: 1, lua: PUBLISHED });
    }
  }

  async create(job: Job, outbox?: OutboxEntry): Promise<{ raw?: string; created: boolean }> {
    const raw = outbox ? JSON.stringify(outbox) : '';
    const created =
      (await this.redis.createJob(
        this.k.jobs,
        this.k.jobDue,
        this.k.outbox,
        job.jobId,
        JSON.stringify(job),
        String(job.dueAt),
        raw,
      )) === 1;
    return { created, raw: raw || undefined };
  }

  /** Stores `next` (its revision bumped here) over `read`; the outbox entry's text when one was written. */
  async write(read: Job, next: Job, outbox?: OutboxEntry): Promise<{ written: boolean; raw?: string }> {
    const stored: Job = { ...next, rev: read.rev + 1 };
    const raw = outbox ? JSON.stringify(outbox) : '';
    const written = await this.redis.writeJob(
      this.k.jobs,
      this.k.jobDue,
      this.k.outbox,
      read.jobId,
      String(read.rev),
      JSON.stringify(stored),
      FINAL.has(next.status) ? '' : String(next.dueAt),
      raw,
    );
    return { written: written === 1, raw: raw || undefined };
  }

  async load(jobId: string): Promise<Job | undefined> {
    const raw = await this.redis.hget(this.k.jobs, jobId);
    return raw ? (JSON.parse(raw) as Job) : undefined;
  }

  async all(): Promise<Job[]> {
    return Object.values(await this.redis.hgetall(this.k.jobs)).map((r) => JSON.parse(r) as Job);
  }

  /** Jobs whose timeout or retry is due by `now`. */
  due(now: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.k.jobDue, 0, now, 'LIMIT', 0, limit);
  }

  async outbox(): Promise<Array<{ jobId: string; raw: string; entry: OutboxEntry }>> {
    return Object.entries(await this.redis.hgetall(this.k.outbox)).map(([jobId, raw]) => ({
      jobId,
      raw,
      entry: JSON.parse(raw) as OutboxEntry,
    }));
  }

  async published(jobId: string, raw: string): Promise<void> {
    await this.redis.outboxPublished(this.k.outbox, jobId, raw);
  }

  async putAgents(records: Array<{ agentId: string; registration: AgentRegistration | null }>): Promise<void> {
    if (records.length === 0) return;
    const p = this.redis.pipeline();
    for (const r of records) {
      if (r.registration) p.hset(this.k.agents, r.agentId, JSON.stringify(r.registration));
      else p.hdel(this.k.agents, r.agentId);
    }
    for (const [err] of (await p.exec()) ?? []) if (err) throw err;
  }

  async agent(agentId: string): Promise<AgentRegistration | undefined> {
    const raw = await this.redis.hget(this.k.agents, agentId);
    return raw ? (JSON.parse(raw) as AgentRegistration) : undefined;
  }

  async agents(): Promise<AgentRegistration[]> {
    return Object.values(await this.redis.hgetall(this.k.agents)).map((r) => JSON.parse(r) as AgentRegistration);
  }

  async keep(agentId: string, b: KeptBackup): Promise<void> {
    await this.redis.hset(this.k.backups(agentId), b.jobId, JSON.stringify(b));
  }

  async kept(agentId: string): Promise<KeptBackup[]> {
    return Object.values(await this.redis.hgetall(this.k.backups(agentId))).map((r) => JSON.parse(r) as KeptBackup);
  }

  async unkeep(agentId: string, jobIds: string[]): Promise<void> {
    if (jobIds.length > 0) await this.redis.hdel(this.k.backups(agentId), ...jobIds);
  }
}

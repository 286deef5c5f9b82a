import type { AgentRegistration, AlertEvent, BackupRequest, HealCommand } from '@vigil/events';
import { notifierKeys } from '@vigil/redis-keys';
import { execByHashTag, type SlottedCommand } from '@vigil/platform';
import type { ChainableCommander as Pipeline } from 'ioredis';
import type Redis from 'ioredis';
import type { HostCounts } from './host-down';
import { newIncident, type Incident } from './incident';

/**
 * Writes an incident if nobody wrote it since it was read, with its due time and what must be
 * published because of the change, in one step: a crash after it leaves the records in the outbox
 * for whoever sweeps the shard next; a crash before it leaves nothing done.
 *   KEYS[1] incidents hash   KEYS[2] due sorted set   KEYS[3] outbox list
 *   ARGV[1] incident key   ARGV[2] revision read (0: no record)   ARGV[3] new record (JSON)
 *   ARGV[4] due, ms since epoch ('' = nothing due)   ARGV[5..] outbox entries (JSON)
 * Returns 1 when written, 0 when the stored revision is another (the caller reads again and redoes).
 */
const WRITE_INCIDENT = `
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local rev = 0
if cur then rev = cjson.decode(cur).rev end
if tostring(rev) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[4] == '' then redis.call('ZREM', KEYS[2], ARGV[1]) else redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1]) end
for i = 5, #ARGV do redis.call('RPUSH', KEYS[3], ARGV[i]) end
return 1
`;

/** A record to publish, as the outbox keeps it. `id` makes each entry unique (and removable alone). */
export type OutboxEntry = { id: string; at: number; traceparent?: string } & (
  { kind: 'heal'; value: HealCommand } | { kind: 'alert'; value: AlertEvent } | { kind: 'backup'; value: BackupRequest }
);

export const outboxEntries = (
  heals: HealCommand[],
  alerts: AlertEvent[],
  at: number,
  traceparent?: string,
  backups: BackupRequest[] = [],
): OutboxEntry[] => [
  ...backups.map((value): OutboxEntry => ({ id: `backup/${value.requestId}`, at, traceparent, kind: 'backup', value })),
  ...heals.map((value): OutboxEntry => ({ id: value.commandId, at, traceparent, kind: 'heal', value })),
  ...alerts.map((value): OutboxEntry => ({
    id: `${value.fingerprint}/${value.status}@${value.endsAt ?? value.startsAt}`,
    at,
    traceparent,
    kind: 'alert',
    value,
  })),
];

/**
 * Records an agent's liveness in its host's set of unreachable agents, unless a newer event of the
 * agent was recorded already (a replay after a crash must not undo a later change).
 *   KEYS[1] the host's unreachable set   KEYS[2] the host's since hash
 *   ARGV[1] agent id   ARGV[2] the event's since   ARGV[3] '1' unreachable, '0' anything else
 */
const MARK_HOST = `
local seen = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '-1')
if tonumber(ARGV[2]) < seen then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
if ARGV[3] == '1' then redis.call('SADD', KEYS[1], ARGV[1]) else redis.call('SREM', KEYS[1], ARGV[1]) end
return 1
`;

/** An agent moving between hosts in the registry (undefined: none, a new or removed agent). */
export interface HostMove {
  agentId: string;
  from?: string;
  to?: string;
}

type RedisWithScript = Redis & {
  writeIncident(incidents: string, due: string, outbox: string, ...args: string[]): Promise<number>;
  markHost(unreachable: string, since: string, agentId: string, at: string, down: string): Promise<number>;
};

/** The notifier's incidents, timers and outbox, per shard, in Redis. */
export class IncidentStore {
  private readonly redis: RedisWithScript;

  constructor(
    redis: Redis,
    private readonly group: string,
  ) {
    this.redis = redis as RedisWithScript;
    if (!('writeIncident' in redis)) redis.defineCommand('writeIncident', { numberOfKeys: 3, lua: WRITE_INCIDENT });
    if (!('markHost' in redis)) redis.defineCommand('markHost', { numberOfKeys: 2, lua: MARK_HOST });
  }

  async load(shard: number, key: string): Promise<Incident> {
    const raw = await this.redis.hget(notifierKeys(this.group, shard).incidents, key);
    return raw ? (JSON.parse(raw) as Incident) : newIncident(key);
  }

  /** An incident with the registration of its agent (one round trip). */
  async loadWithAgent(shard: number, agentId: string): Promise<{ incident: Incident; who?: AgentRegistration }> {
    const k = notifierKeys(this.group, shard);
    const results = (await this.redis.pipeline().hget(k.incidents, agentId).hget(k.agents, agentId).exec()) ?? [];
    const [incident, who] = results.map(([err, v]) => {
      if (err) throw err;
      return v as string | null;
    });
    return {
      incident: incident ? (JSON.parse(incident) as Incident) : newIncident(agentId),
      who: who ? (JSON.parse(who) as AgentRegistration) : undefined,
    };
  }

  /**
   * Applies registry records: a registration replaces the agent's, a tombstone (null) removes it.
   * Returns the agents whose host changed (the caller moves them between hosts' sets).
   */
  async putAgents(
    shard: number,
    records: Array<{ agentId: string; registration: AgentRegistration | null }>,
  ): Promise<HostMove[]> {
    if (records.length === 0) return [];
    const key = notifierKeys(this.group, shard).agents;
    const before = await this.redis.hmget(key, ...records.map((r) => r.agentId));
    const hostNow = new Map<string, string | undefined>();
    records.forEach((r, i) => {
      if (!hostNow.has(r.agentId))
        hostNow.set(r.agentId, before[i] ? (JSON.parse(before[i]!) as AgentRegistration).host : undefined);
    });
    const moves: HostMove[] = [];
    const pipeline = this.redis.pipeline();
    for (const r of records) {
      if (r.registration) pipeline.hset(key, r.agentId, JSON.stringify(r.registration));
      else pipeline.hdel(key, r.agentId);
      const from = hostNow.get(r.agentId);
      const to = r.registration?.host || undefined;
      if (from !== to) moves.push({ agentId: r.agentId, from, to });
      hostNow.set(r.agentId, to);
    }
    for (const [err] of (await pipeline.exec()) ?? []) if (err) throw err;
    return moves;
  }

  /**
   * Moves agents between hosts' sets of registered agents; `shardOfHost` places each host. Hosts
   * sit in several shards (slots): a pipeline per shard.
   */
  async moveHostMembers(moves: HostMove[], shardOfHost: (host: string) => number): Promise<void> {
    if (moves.length === 0) return;
    const commands: SlottedCommand[] = [];
    for (const m of moves) {
      if (m.from) {
        const key = notifierKeys(this.group, shardOfHost(m.from)).hostAgents(m.from);
        commands.push({ key, add: (p) => p.srem(key, m.agentId) });
      }
      if (m.to) {
        const key = notifierKeys(this.group, shardOfHost(m.to)).hostAgents(m.to);
        commands.push({ key, add: (p) => p.sadd(key, m.agentId) });
      }
    }
    await execByHashTag(this.redis, commands);
  }

  /** Records agents' liveness in their host's unreachable set (see MARK_HOST); a pipeline per shard. */
  async markHosts(
    marks: Array<{ host: string; agentId: string; since: number; unreachable: boolean }>,
    shardOfHost: (host: string) => number,
  ): Promise<void> {
    if (marks.length === 0) return;
    await execByHashTag(
      this.redis,
      marks.map((m) => {
        const k = notifierKeys(this.group, shardOfHost(m.host));
        return {
          key: k.hostUnreachable(m.host),
          add: (p: Pipeline) =>
            (p as Pipeline & { markHost(...args: string[]): unknown }).markHost(
              k.hostUnreachable(m.host),
              k.hostSince(m.host),
              m.agentId,
              String(m.since),
              m.unreachable ? '1' : '0',
            ),
        };
      }),
    );
  }

  /** A host's incident with its counts now: registered agents, and how many of them are unreachable. */
  async loadWithHost(shard: number, key: string, host: string): Promise<{ incident: Incident; counts: HostCounts }> {
    const k = notifierKeys(this.group, shard);
    const results =
      (await this.redis
        .pipeline()
        .hget(k.incidents, key)
        .scard(k.hostAgents(host))
        .sintercard(2, k.hostAgents(host), k.hostUnreachable(host))
        .exec()) ?? [];
    for (const [err] of results) if (err) throw err;
    const raw = results[0]![1] as string | null;
    return {
      incident: raw ? (JSON.parse(raw) as Incident) : newIncident(key),
      counts: { registered: Number(results[1]![1]), unreachable: Number(results[2]![1]) },
    };
  }

  /** Stores `next` (its revision is set here) if the stored one is still `read`; false otherwise. */
  async write(shard: number, read: Incident, next: Incident, outbox: string[]): Promise<boolean> {
    const k = notifierKeys(this.group, shard);
    const stored: Incident = { ...next, rev: read.rev + 1 };
    const written = await this.redis.writeIncident(
      k.incidents,
      k.due,
      k.outbox,
      next.key,
      String(read.rev),
      JSON.stringify(stored),
      next.dueAt === undefined ? '' : String(next.dueAt),
      ...outbox,
    );
    return written === 1;
  }

  /** Agents whose incident needs attention by `now`, oldest first. */
  due(shard: number, now: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(notifierKeys(this.group, shard).due, 0, now, 'LIMIT', 0, limit);
  }

  async outbox(shard: number): Promise<Array<{ raw: string; entry: OutboxEntry }>> {
    const raw = await this.redis.lrange(notifierKeys(this.group, shard).outbox, 0, -1);
    return raw.map((r) => ({ raw: r, entry: JSON.parse(r) as OutboxEntry }));
  }

  /** Removes published entries, each by its exact text, so entries written meanwhile stay. */
  async published(shard: number, raws: string[]): Promise<void> {
    if (raws.length === 0) return;
    const key = notifierKeys(this.group, shard).outbox;
    const pipeline = this.redis.pipeline();
    for (const raw of raws) pipeline.lrem(key, 1, raw);
    await pipeline.exec();
  }

  /** Every incident of the given shards (the HTTP views' source); one command per shard's slot. */
  async all(shards: number): Promise<Incident[]> {
    const perShard = await Promise.all(
      Array.from({ length: shards }, (_, s) => this.redis.hvals(notifierKeys(this.group, s).incidents)),
    );
    return perShard.flat().map((v) => JSON.parse(v) as Incident);
  }

  async find(key: string, shards: number): Promise<Incident | undefined> {
    const found = await Promise.all(
      Array.from({ length: shards }, (_, s) => this.redis.hget(notifierKeys(this.group, s).incidents, key)),
    );
    const value = found.find((v): v is string => typeof v === 'string');
    return value === undefined ? undefined : (JSON.parse(value) as Incident);
  }
}

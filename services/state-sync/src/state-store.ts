import type { StateChangeEvent } from '@vigil/events';
import type Redis from 'ioredis';
import { agentEntitiesKey, checkpointKey, seenKey, stateKey } from '@vigil/redis-keys';
import { APPLY_LUA, MARK_PUBLISHED_LUA, RESTORE_LUA } from './state-scripts';

export type ApplyOutcome = 'applied' | 'duplicate' | 'stale';

export interface ApplyResult {
  outcome: ApplyOutcome;
  storedVersion: number;
  publishedVersion: number;
}

export interface EntityState {
  entityId: string;
  entityType: string;
  agentId: string;
  version: number;
  eventType: StateChangeEvent['eventType'];
  lastEventId: string;
  payload: unknown;
  timestamp: number;
  appliedAt: number;
  publishedVersion: number;
}

type ScriptedRedis = Redis & {
  vigilApply(state: string, seen: string, ...args: Array<string | number>): Promise<[ApplyOutcome, string, string]>;
  vigilMarkPublished(state: string, version: number): Promise<number>;
  vigilRestore(state: string, ...args: Array<string | number>): Promise<number>;
};

/** What one changelog record says about an entity (a tombstone has no event, only its headers). */
export interface ChangelogEntry {
  entityId: string;
  version: number;
  eventId: string;
  agentId: string;
  event: StateChangeEvent | null;
}

type ScriptedPipeline = ScriptedRedis & { exec(): Promise<Array<[Error | null, unknown]> | null> };

/** Runs a pipeline; the first failed command fails the whole call (each command is atomic on its own). */
async function execAll(pipeline: ScriptedPipeline): Promise<Array<[Error | null, unknown]>> {
  const replies = (await pipeline.exec()) ?? [];
  for (const [err] of replies) if (err) throw err;
  return replies;
}

export interface DedupeWindow {
  windowMs: number;
  maxIds: number;
}

/** Entity state in Redis: the atomic apply, changelog markers and checkpoints, and reads. */
export class StateStore {
  private readonly redis: ScriptedRedis;

  constructor(
    redis: Redis,
    private readonly window: DedupeWindow,
  ) {
    redis.defineCommand('vigilApply', { numberOfKeys: 2, lua: APPLY_LUA });
    redis.defineCommand('vigilMarkPublished', { numberOfKeys: 1, lua: MARK_PUBLISHED_LUA });
    redis.defineCommand('vigilRestore', { numberOfKeys: 1, lua: RESTORE_LUA });
    this.redis = redis as ScriptedRedis;
  }

  /** One script per event, pipelined: one round trip for the batch, each event atomic on its own. */
  async apply(events: StateChangeEvent[]): Promise<ApplyResult[]> {
    const pipeline = this.redis.pipeline() as unknown as ScriptedPipeline;
    for (const e of events) {
      pipeline.vigilApply(
        stateKey(e.entityId),
        seenKey(e.entityId),
        e.eventId,
        e.version,
        e.eventType,
        e.entityType,
        e.agentId,
        e.payload ?? '',
        e.timestamp,
        this.window.windowMs,
        this.window.maxIds,
      );
    }
    const replies = await execAll(pipeline);
    return replies.map(([, reply]) => {
      const [outcome, stored, published] = reply as [ApplyOutcome, string, string];
      return { outcome, storedVersion: Number(stored), publishedVersion: Number(published) };
    });
  }

  /**
   * After the changelog acked: markers up, the per-agent index in step with what was accepted, and
   * the partition's changelog checkpoint moved past these records, in one round trip.
   */
  async recordPublished(
    events: StateChangeEvent[],
    checkpoint?: { partition: number; offset: bigint; clusterId: string },
  ): Promise<void> {
    if (events.length === 0) return;
    const pipeline = this.redis.pipeline() as unknown as ScriptedPipeline;
    // The checkpoint goes last: a crash inside the pipeline leaves it behind the markers, never ahead.
    for (const e of events) {
      pipeline.vigilMarkPublished(stateKey(e.entityId), e.version);
      if (e.eventType === 'deleted') pipeline.srem(agentEntitiesKey(e.agentId), e.entityId);
      else pipeline.sadd(agentEntitiesKey(e.agentId), e.entityId);
    }
    if (checkpoint)
      pipeline.set(checkpointKey(checkpoint.partition), checkpointValue(checkpoint.clusterId, checkpoint.offset));
    await execAll(pipeline);
  }

  /**
   * Brings Redis in line with records read from the changelog, the source of truth: markers move up,
   * and an entity Redis lost or holds at an older version is restored from the record.
   * Returns how many entities were restored.
   */
  async restoreFromChangelog(entries: ChangelogEntry[]): Promise<number> {
    if (entries.length === 0) return 0;
    const pipeline = this.redis.pipeline() as unknown as ScriptedPipeline;
    const restoreAt: number[] = [];
    let commands = 0;
    for (const e of entries) {
      const ev = e.event;
      restoreAt.push(commands++);
      pipeline.vigilRestore(
        stateKey(e.entityId),
        e.version,
        e.eventId,
        ev ? ev.eventType : 'deleted',
        ev?.entityType ?? '',
        e.agentId,
        ev?.payload ?? '',
        ev?.timestamp ?? 0,
      );
      if (e.agentId) {
        commands++;
        if (ev) pipeline.sadd(agentEntitiesKey(e.agentId), e.entityId);
        else pipeline.srem(agentEntitiesKey(e.agentId), e.entityId);
      }
    }
    const replies = await execAll(pipeline);
    return restoreAt.filter((i) => replies[i]?.[1] === 1).length;
  }

  /** False when Redis no longer has what an earlier recovery wrote: it lost data since. */
  async hasCheckpoint(partition: number): Promise<boolean> {
    return (await this.redis.exists(checkpointKey(partition))) === 1;
  }

  /**
   * The changelog offset before which every record is reflected in the markers. A checkpoint written
   * against another Kafka cluster (Redis outlived the broker) or past the partition's end is not
   * trusted: the read then starts at the beginning of the partition.
   */
  async checkpoint(partition: number, clusterId: string, end: bigint): Promise<bigint> {
    const v = await this.redis.get(checkpointKey(partition));
    const [cluster, offset] = (v ?? '').split('@');
    if (cluster !== clusterId || offset === undefined) return 0n;
    const at = BigInt(offset);
    return at > end ? 0n : at;
  }

  async setCheckpoint(partition: number, offset: bigint, clusterId: string): Promise<void> {
    await this.redis.set(checkpointKey(partition), checkpointValue(clusterId, offset));
  }

  async entity(entityId: string): Promise<EntityState | null> {
    const h = await this.redis.hgetall(stateKey(entityId));
    return h.version === undefined ? null : toEntityState(entityId, h);
  }

  async entitiesOfAgent(agentId: string): Promise<EntityState[]> {
    const ids = (await this.redis.smembers(agentEntitiesKey(agentId))).sort();
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(stateKey(id));
    const replies = (await pipeline.exec()) ?? [];
    return ids.flatMap((id, i) => {
      const h = replies[i]?.[1] as Record<string, string> | undefined;
      return h && h.version !== undefined ? [toEntityState(id, h)] : [];
    });
  }
}

const checkpointValue = (clusterId: string, offset: bigint) => `${clusterId}@${offset}`;

function toEntityState(entityId: string, h: Record<string, string>): EntityState {
  let payload: unknown = null;
  if (h.payload) {
    try {
      payload = JSON.parse(h.payload);
    } catch {
      payload = h.payload;
    }
  }
  return {
    entityId,
    entityType: h.entityType ?? '',
    agentId: h.agentId ?? '',
    version: Number(h.version),
    eventType: (h.eventType ?? 'updated') as EntityState['eventType'],
    lastEventId: h.eventId ?? '',
    payload,
    timestamp: Number(h.timestamp),
    appliedAt: Number(h.appliedAt),
    publishedVersion: Number(h.published ?? -1),
  };
}

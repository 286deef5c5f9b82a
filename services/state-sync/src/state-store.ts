import type { StateChangeEvent } from '@vigil/events';
import { groupBy } from '@vigil/kafka';
import type Redis from 'ioredis';
import { stateSyncKeys } from '@vigil/redis-keys';
import { APPLY_BATCH_LUA, MARK_PUBLISHED_BATCH_LUA, RESTORE_LUA } from './state-scripts';

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
  /** KEYS and ARGV as APPLY_BATCH_LUA documents them, the number of keys first. */
  vigilApplyBatch(numberOfKeys: number, ...keysThenArgs: Array<string | number>): Promise<Array<number | string>>;
  vigilMarkPublishedBatch(numberOfKeys: number, ...keysThenArgs: Array<string | number>): Promise<number>;
  vigilRestore(state: string, unpublished: string, ...args: Array<string | number>): Promise<number>;
};

/**
 * Events per script call: a script blocks Redis while it runs, so a long batch goes in slices
 * (about 5 ms each on the bench machine); the slices still travel in one round trip.
 */
export const EVENTS_PER_SCRIPT_CALL = 500;

/** What one changelog record says about an entity (a tombstone has no event, only its headers). */
export interface ChangelogEntry {
  /** The changelog partition it was read from: the entity's partition. */
  partition: number;
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

/**
 * How many Redis replicas must hold the markers before a batch's offsets are committed (WAIT), and
 * how long to wait for them. 0 on a single Redis; on a Redis Cluster, 1: a master's replica is
 * what a failover promotes.
 */
export interface RedisDurability {
  replicas: number;
  timeoutMs: number;
}

/** How long an applied event's id is kept at most while the changelog may not hold it yet. */
export interface DedupeWindow {
  windowMs: number;
}

/** Entity state in Redis: the atomic apply, changelog markers and checkpoints, and reads. */
export class StateStore {
  private readonly redis: ScriptedRedis;

  constructor(
    redis: Redis,
    private readonly window: DedupeWindow,
    /** The partitions of vigil.agent.state-changes: where a read by entity or agent id looks. */
    private readonly partitions: () => Promise<number[]>,
    private readonly durability: RedisDurability = { replicas: 0, timeoutMs: 0 },
  ) {
    redis.defineCommand('vigilApplyBatch', { lua: APPLY_BATCH_LUA });
    redis.defineCommand('vigilMarkPublishedBatch', { lua: MARK_PUBLISHED_BATCH_LUA });
    redis.defineCommand('vigilRestore', { numberOfKeys: 2, lua: RESTORE_LUA });
    this.redis = redis as ScriptedRedis;
  }

  /**
   * The batch's events in order, each atomic, in script calls of EVENTS_PER_SCRIPT_CALL events that
   * each also check the partition's checkpoint is still there: one round trip. A missing checkpoint
   * means Redis lost data since the restore wrote it; what this call applied is then newer than the
   * changelog or equal to it, and the restore the caller runs next sorts both out (see
   * StateChangeProcessor).
   */
  async apply(partition: number, events: StateChangeEvent[]): Promise<{ checkpoint: boolean; results: ApplyResult[] }> {
    const k = stateSyncKeys(partition);
    if (events.length === 0) return { checkpoint: (await this.redis.exists(k.checkpoint)) === 1, results: [] };
    const pipeline = this.redis.pipeline() as unknown as ScriptedPipeline;
    // Every slice checks the checkpoint: each is atomic on its own, and Redis may lose it between two.
    for (const slice of inSlices(events)) {
      const keys: string[] = [k.checkpoint];
      const args: Array<string | number> = [this.window.windowMs];
      for (const e of slice) {
        keys.push(k.state(e.entityId), k.unpublished(e.entityId));
        args.push(e.eventId, e.version, e.eventType, e.entityType, e.agentId, e.payload ?? '', e.timestamp);
      }
      pipeline.vigilApplyBatch(keys.length, ...keys, ...args);
    }
    const replies = await execAll(pipeline);
    let checkpoint = true;
    const results: ApplyResult[] = [];
    for (const [, reply] of replies) {
      const r = reply as Array<number | string>;
      checkpoint &&= r[0] === 1;
      for (let i = 1; i < r.length; i += 3)
        results.push({
          outcome: r[i] as ApplyOutcome,
          storedVersion: Number(r[i + 1]),
          publishedVersion: Number(r[i + 2]),
        });
    }
    return { checkpoint, results };
  }

  /**
   * After the changelog acked: markers up, the per-agent index in step with what was accepted, and
   * the partition's changelog checkpoint moved past these records, in one round trip. With replicas
   * to wait for (a Redis Cluster), it resolves only once that many replicas hold these writes, so a
   * failover after the offsets are committed cannot take them back; else it throws (the batch is retried).
   */
  async recordPublished(
    partition: number,
    events: StateChangeEvent[],
    checkpoint?: { offset: bigint; clusterId: string },
  ): Promise<void> {
    if (events.length === 0) return;
    const k = stateSyncKeys(partition);
    // An entity's newest event of the batch says all: its marker covers the versions below, and
    // whether the agent still has the entity is what its last event says.
    const newest = new Map<string, StateChangeEvent>();
    for (const e of events) if ((newest.get(e.entityId)?.version ?? -1) < e.version) newest.set(e.entityId, e);
    const entities = [...newest.values()];
    const pipeline = this.redis.pipeline() as unknown as ScriptedPipeline;
    const slices = inSlices(entities);
    slices.forEach((slice, i) => {
      const keys: string[] = [];
      const args: Array<string | number> = [];
      for (const e of slice) {
        keys.push(k.state(e.entityId), k.unpublished(e.entityId), k.agentEntities(e.agentId));
        args.push(e.version, e.entityId, e.eventType === 'deleted' ? '1' : '0');
      }
      // The checkpoint goes with the last slice: a crash between slices leaves it behind the markers.
      if (checkpoint && i === slices.length - 1) {
        keys.push(k.checkpoint);
        args.push(checkpointValue(checkpoint.clusterId, checkpoint.offset));
      }
      pipeline.vigilMarkPublishedBatch(keys.length, ...keys, ...args);
    });
    await this.execDurably(pipeline, `state-sync partition ${partition}'s markers`);
  }

  /**
   * Runs the pipeline, then, with replicas to wait for, WAIT on the same connection: the pipeline's
   * keys share one slot, so it goes to the one master that holds them, and WAIT counts the replicas
   * that have everything that connection wrote.
   */
  private async execDurably(pipeline: ScriptedPipeline, what: string): Promise<void> {
    const { replicas, timeoutMs } = this.durability;
    if (replicas > 0) (pipeline as unknown as { wait(n: number, ms: number): unknown }).wait(replicas, timeoutMs);
    const replies = await execAll(pipeline);
    if (replicas === 0) return;
    const acked = Number(replies.at(-1)?.[1]);
    if (!(acked >= replicas))
      throw new Error(
        `${what}: ${acked} of ${replicas} Redis replicas confirmed within ${timeoutMs} ms; not committing until they do`,
      );
  }

  /**
   * Brings Redis in line with records read from the changelog, the source of truth: markers move up,
   * and an entity Redis lost or holds at an older version is restored from the record.
   * Returns how many entities were restored.
   */
  async restoreFromChangelog(entries: ChangelogEntry[]): Promise<number> {
    const byPartition = groupBy(entries, (e) => e.partition);
    // One pipeline per partition: its keys share a slot, as a Redis Cluster needs of a pipeline.
    const restored = await Promise.all(
      [...byPartition].map(([partition, slice]) => this.restorePartition(partition, slice)),
    );
    return restored.reduce((a, b) => a + b, 0);
  }

  private async restorePartition(partition: number, entries: ChangelogEntry[]): Promise<number> {
    const k = stateSyncKeys(partition);
    const pipeline = this.redis.pipeline() as unknown as ScriptedPipeline;
    const restoreAt: number[] = [];
    let commands = 0;
    for (const e of entries) {
      const ev = e.event;
      restoreAt.push(commands++);
      pipeline.vigilRestore(
        k.state(e.entityId),
        k.unpublished(e.entityId),
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
        if (ev) pipeline.sadd(k.agentEntities(e.agentId), e.entityId);
        else pipeline.srem(k.agentEntities(e.agentId), e.entityId);
      }
    }
    const replies = await execAll(pipeline);
    return restoreAt.filter((i) => replies[i]?.[1] === 1).length;
  }

  /**
   * The changelog offset before which every record is reflected in the markers. A checkpoint written
   * against another Kafka cluster (Redis outlived the broker) or past the partition's end is not
   * trusted: the read then starts at the beginning of the partition.
   */
  async checkpoint(partition: number, clusterId: string, end: bigint): Promise<bigint> {
    const v = await this.redis.get(stateSyncKeys(partition).checkpoint);
    const [cluster, offset] = (v ?? '').split('@');
    if (cluster !== clusterId || offset === undefined) return 0n;
    const at = BigInt(offset);
    return at > end ? 0n : at;
  }

  async setCheckpoint(partition: number, offset: bigint, clusterId: string): Promise<void> {
    await this.redis.set(stateSyncKeys(partition).checkpoint, checkpointValue(clusterId, offset));
  }

  /**
   * The entity's state, asked of every partition at once (a reader does not know which partition
   * the agent's producer chose); were it on two (the topic gained partitions), the newer version wins.
   */
  async entity(entityId: string): Promise<EntityState | null> {
    const found = await Promise.all(
      (await this.partitions()).map((p) => this.redis.hgetall(stateSyncKeys(p).state(entityId))),
    );
    let newest: EntityState | null = null;
    for (const h of found)
      if (h.version !== undefined && Number(h.version) > (newest?.version ?? -1)) newest = toEntityState(entityId, h);
    return newest;
  }

  async entitiesOfAgent(agentId: string): Promise<EntityState[]> {
    const perPartition = await Promise.all(
      (await this.partitions()).map(async (p) => {
        const k = stateSyncKeys(p);
        const ids = await this.redis.smembers(k.agentEntities(agentId));
        if (ids.length === 0) return [];
        const pipeline = this.redis.pipeline();
        for (const id of ids) pipeline.hgetall(k.state(id));
        const replies = (await pipeline.exec()) ?? [];
        return ids.flatMap((id, i) => {
          const h = replies[i]?.[1] as Record<string, string> | undefined;
          return h && h.version !== undefined ? [toEntityState(id, h)] : [];
        });
      }),
    );
    const newest = new Map<string, EntityState>();
    for (const s of perPartition.flat())
      if ((newest.get(s.entityId)?.version ?? -1) < s.version) newest.set(s.entityId, s);
    return [...newest.values()].sort((a, b) => (a.entityId < b.entityId ? -1 : a.entityId > b.entityId ? 1 : 0));
  }
}

/** The items in runs of EVENTS_PER_SCRIPT_CALL, in order: one script call each. */
function inSlices<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let from = 0; from < items.length; from += EVENTS_PER_SCRIPT_CALL)
    out.push(items.slice(from, from + EVENTS_PER_SCRIPT_CALL));
  return out;
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

import type { AgentLivenessChanged, AgentRegistration } from '@vigil/events';
import { leaseKeys } from '@vigil/redis-keys';
import type Redis from 'ioredis';
import { livenessEventId, type Lease, type PartitionChanges } from './detection/lease-table';
import { SAVE_LEASES_LUA, TRIM_OUTBOX_LUA } from './lease-scripts';

/** Outbox entries written before transitions had ids get the id they would have had. */
const withEventId = (t: AgentLivenessChanged): AgentLivenessChanged =>
  t.eventId ? t : { ...t, eventId: livenessEventId(t.agentId, t.from, t.to, t.since) };

export interface PartitionSnapshot {
  leases: Lease[];
  /** Broker time the previous owner's clock had reached (0 if none). */
  clockMs: number;
  /** Transitions persisted but perhaps not yet published when the previous owner stopped. */
  outbox: AgentLivenessChanged[];
  /** Registry records likewise. */
  registryOutbox: RegistryEntry[];
}

/** A registration to publish to the agent registry, or the tombstone of an agent that is gone. */
export type RegistryEntry = { registration: AgentRegistration } | { tombstone: string };

/**
 * A write of an owner the partition has moved away from (a newer owner claimed it since): nothing
 * of it was written. Not transient: this instance must stop working on the partition until it is
 * assigned it again (and claims it anew).
 */
export class PartitionFenced extends Error {
  constructor(
    readonly partition: number,
    readonly epoch: number,
    readonly storedEpoch: number,
  ) {
    super(`heartbeat partition ${partition} was claimed by a newer owner (epoch ${storedEpoch} > ${epoch})`);
    this.name = 'PartitionFenced';
  }
}

type ScriptReply = [ok: 0 | 1, value: number];
interface LeaseScripts {
  vigilSaveLeases(...keysAndArgs: string[]): Promise<ScriptReply>;
  vigilTrimOutbox(...keysAndArgs: string[]): Promise<ScriptReply>;
}

export interface SaveResult {
  clockWritten: boolean;
  clockWasMissing: boolean;
}

/**
 * The leases of each heartbeat partition, in Redis, so that whoever owns the partition next (after a
 * rebalance or a crash) restores them and keeps timing. A write carries the changed leases, the
 * partition's clock and the transitions about to be published (an outbox) in one script, so Redis
 * never holds a state whose transition event could be lost. Every write is fenced by the epoch its
 * owner claimed (see lease-scripts.ts).
 */
export class LeaseStore {
  private readonly scripts: LeaseScripts;

  constructor(
    private readonly redis: Redis,
    private readonly group: string,
  ) {
    redis.defineCommand('vigilSaveLeases', { numberOfKeys: 4, lua: SAVE_LEASES_LUA });
    redis.defineCommand('vigilTrimOutbox', { numberOfKeys: 2, lua: TRIM_OUTBOX_LUA });
    this.scripts = redis as unknown as LeaseScripts;
  }

  /**
   * Makes this instance the partition's owner: returns its epoch, higher than any earlier owner's,
   * whose writes are refused from now on. Claim before load, so the load sees every write the
   * earlier owner will ever make.
   */
  async claim(partition: number): Promise<number> {
    return this.redis.hincrby(leaseKeys(this.group, partition).meta, 'epoch', 1);
  }

  async load(partition: number): Promise<PartitionSnapshot> {
    const k = leaseKeys(this.group, partition);
    const [leases, clock, outbox, registryOutbox] = await Promise.all([
      this.redis.hvals(k.leases),
      this.redis.hget(k.meta, 'clock'),
      this.redis.lrange(k.outbox, 0, -1),
      this.redis.lrange(k.registryOutbox, 0, -1),
    ]);
    return {
      leases: leases.map((l) => JSON.parse(l) as Lease),
      clockMs: Number(clock ?? 0),
      outbox: outbox.map((o) => withEventId(JSON.parse(o) as AgentLivenessChanged)),
      registryOutbox: registryOutbox.map((r) => JSON.parse(r) as RegistryEntry),
    };
  }

  /**
   * Writes a partition's changes. `clockWritten` says whether the partition's clock is now in Redis
   * (nothing is written when there is nothing to write, or before the clock has started);
   * `clockWasMissing` that the clock field had to be created: if this instance had written it
   * before, Redis lost data (a restart without persistence, a failover) and the caller must write
   * every lease again.
   */
  async save(
    partition: number,
    epoch: number,
    changes: PartitionChanges,
    clockMs: number,
    transitions: AgentLivenessChanged[],
    registry: RegistryEntry[] = [],
  ): Promise<SaveResult> {
    if (
      changes.upserts.length === 0 &&
      changes.removed.length === 0 &&
      transitions.length === 0 &&
      registry.length === 0
    )
      return { clockWritten: false, clockWasMissing: false };
    const k = leaseKeys(this.group, partition);
    const fields: string[] = [];
    for (const l of changes.upserts) fields.push(l.agentId, JSON.stringify(l));
    const [ok, value] = await this.scripts.vigilSaveLeases(
      k.leases,
      k.meta,
      k.outbox,
      k.registryOutbox,
      String(epoch),
      String(clockMs > 0 ? clockMs : 0),
      String(fields.length),
      String(changes.removed.length),
      String(transitions.length),
      String(registry.length),
      ...fields,
      ...changes.removed,
      ...transitions.map((t) => JSON.stringify(t)),
      ...registry.map((r) => JSON.stringify(r)),
    );
    if (ok === 0) throw new PartitionFenced(partition, epoch, value);
    return { clockWritten: clockMs > 0, clockWasMissing: clockMs > 0 && value === 1 };
  }

  /**
   * Every lease in Redis (all partitions, whichever instance owns them): the fleet view's source.
   * One command per partition, sent together: each partition is its own hash slot, and a Redis
   * Cluster refuses a pipeline across slots.
   */
  async all(partitions: number): Promise<Lease[]> {
    const perPartition = await Promise.all(
      Array.from({ length: partitions }, (_, p) => this.redis.hvals(leaseKeys(this.group, p).leases)),
    );
    return perPartition.flat().map((v) => JSON.parse(v) as Lease);
  }

  /** One agent's lease: a field lookup in each partition's hash (no need to know its partition). */
  async find(agentId: string, partitions: number): Promise<Lease | undefined> {
    const found = await Promise.all(
      Array.from({ length: partitions }, (_, p) => this.redis.hget(leaseKeys(this.group, p).leases, agentId)),
    );
    const value = found.find((v): v is string => typeof v === 'string');
    return value === undefined ? undefined : (JSON.parse(value) as Lease);
  }

  /** The first n outbox entries were published. */
  published(partition: number, epoch: number, n: number): Promise<void> {
    return this.trim(partition, epoch, n, 'outbox');
  }

  /** The first n registry outbox entries were published. */
  registryPublished(partition: number, epoch: number, n: number): Promise<void> {
    return this.trim(partition, epoch, n, 'registryOutbox');
  }

  private async trim(partition: number, epoch: number, n: number, list: 'outbox' | 'registryOutbox') {
    if (n <= 0) return;
    const k = leaseKeys(this.group, partition);
    const [ok, stored] = await this.scripts.vigilTrimOutbox(k[list], k.meta, String(epoch), String(n));
    if (ok === 0) throw new PartitionFenced(partition, epoch, stored);
  }
}

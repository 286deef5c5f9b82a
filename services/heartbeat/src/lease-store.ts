import type { AgentLivenessChanged, AgentRegistration } from '@vigil/events';
import { leaseKeys } from '@vigil/redis-keys';
import type Redis from 'ioredis';
import { livenessEventId, type Lease, type PartitionChanges } from './detection/lease-table';

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

export interface SaveResult {
  clockWritten: boolean;
  clockWasMissing: boolean;
}

/**
 * The leases of each heartbeat partition, in Redis, so that whoever owns the partition next (after a
 * rebalance or a crash) restores them and keeps timing. A write carries the changed leases, the
 * partition's clock and the transitions about to be published (an outbox) in one MULTI, so Redis
 * never holds a state whose transition event could be lost.
 */
export class LeaseStore {
  constructor(
    private readonly redis: Redis,
    private readonly group: string,
  ) {}

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
    const tx = this.redis.multi();
    // Index of each command's result (ioredis counts MULTI itself in tx.length, exec() does not).
    let commands = 0;
    let clockAt = -1;
    if (changes.upserts.length > 0) {
      const fields: string[] = [];
      for (const l of changes.upserts) fields.push(l.agentId, JSON.stringify(l));
      tx.hset(k.leases, ...fields);
      commands += 1;
    }
    if (changes.removed.length > 0) {
      tx.hdel(k.leases, ...changes.removed);
      commands += 1;
    }
    if (clockMs > 0) {
      clockAt = commands++;
      tx.hset(k.meta, 'clock', String(clockMs));
    }
    if (transitions.length > 0) tx.rpush(k.outbox, ...transitions.map((t) => JSON.stringify(t)));
    if (registry.length > 0) tx.rpush(k.registryOutbox, ...registry.map((r) => JSON.stringify(r)));
    const results = await tx.exec();
    const failed = results?.find(([err]) => err);
    if (!results || failed) throw new Error(`lease write failed: ${failed?.[0]?.message ?? 'transaction aborted'}`);
    return { clockWritten: clockAt >= 0, clockWasMissing: clockAt >= 0 && results[clockAt]?.[1] === 1 };
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
  async published(partition: number, n: number): Promise<void> {
    if (n > 0) await this.redis.ltrim(leaseKeys(this.group, partition).outbox, n, -1);
  }

  /** The first n registry outbox entries were published. */
  async registryPublished(partition: number, n: number): Promise<void> {
    if (n > 0) await this.redis.ltrim(leaseKeys(this.group, partition).registryOutbox, n, -1);
  }
}

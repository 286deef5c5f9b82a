import { type AgentLivenessChanged, type AgentRegistration, type Heartbeat } from '@vigil/events';
import {
  extractTraceContext,
  startCausedBySilence,
  type BatchInfo,
  type TraceContext,
  type ConsumedRecord,
  type OutgoingRecord,
} from '@vigil/kafka';
import type { Logger } from '@vigil/platform';
import type { BacklogEnd, BacklogEnds } from './backlog-ends';
import type { LeaseTable } from './detection/lease-table';
import { registryEntries } from './agent-registry';
import type { HeartbeatMetrics } from './heartbeat-metrics';
import { PartitionFenced, type LeaseStore, type RegistryEntry } from './lease-store';

/**
 * A restored partition whose previous owner's clock is older than this (wall clock, used only to
 * decide whether to look) may have a long backlog: read where it ends before replaying it.
 */
const LOOK_FOR_STALE_BEATS_AFTER_MS = 10_000;

/** What every owned partition shares: the instance's table, stores and clients. */
export interface PartitionDeps {
  table: LeaseTable;
  store: LeaseStore;
  /** Publishes liveness events; concurrent calls share produce requests (CoalescedSends). */
  publish(records: Array<OutgoingRecord<AgentLivenessChanged>>): Promise<void>;
  /** Publishes agent registry records (tombstones included). */
  publishRegistry(records: Array<OutgoingRecord<AgentRegistration>>): Promise<void>;
  backlogEnds: BacklogEnds;
  metrics: HeartbeatMetrics;
  logger: Logger;
  /** Where the group's consumer resumes on a partition (its committed offset, or the end for a new group). */
  committedOffset(partition: number): Promise<bigint>;
  highWatermark(partition: number): Promise<bigint>;
  /** Extra time agents get after a broker outage this instance saw, if it is recent; else undefined. */
  gapGraceMs(): number | undefined;
}

type Backlog = BacklogEnd & { startedAt: number; from: bigint };

/**
 * One heartbeat partition this instance owns: its position, its slice of the lease table (clock,
 * heap, leases), its outbox and what could not be saved yet. Apply, judge, persist and restore run
 * strictly one after another on its queue, so the table, Redis and the liveness topic see one
 * sequence. Releasing the partition is dropping the object (after its queue drained).
 *
 * Order of a write: leases, clock and new transitions go to Redis in one transaction (the
 * transitions into the outbox), then to Kafka, then the outbox is trimmed. A crash in between
 * leaves them in the outbox for the next owner: a transition is never lost; it is published twice
 * only if the crash falls between Kafka's ack and the trim, with the same event id.
 */
export class OwnedPartition {
  /** Next offset to apply; undefined until restored. */
  private position?: bigint;
  private queue: Promise<void>;
  private judgeQueued = false;
  /** Transitions in Redis's outbox, not yet acknowledged by Kafka. */
  private outbox: AgentLivenessChanged[] = [];
  /** Transitions decided whose Redis write failed; the next write carries them. */
  private unsaved: AgentLivenessChanged[] = [];
  /** Registry records in Redis's registry outbox, not yet acknowledged by Kafka. */
  private registryOutbox: RegistryEntry[] = [];
  /** This instance wrote the partition's clock to Redis (so a missing one means Redis lost data). */
  private written = false;
  /** A backlog reaching back past the thresholds: where it ends, and how its replay goes. */
  private backlog?: Backlog;
  /** When each fresh transition was decided (monotonic ms): its detection latency runs until Kafka's ack. */
  private readonly decidedAt = new WeakMap<AgentLivenessChanged, number>();
  /** The trace a transition caused by silence started (one made by a heartbeat continues the heartbeat's). */
  private readonly traces = new WeakMap<AgentLivenessChanged, TraceContext>();
  private released = false;
  /** The epoch this instance claimed the partition with (see LeaseStore.claim). */
  private epoch = 0;
  /** A newer owner claimed the partition: nothing is done on it until it is assigned here again. */
  private fenced = false;

  constructor(
    readonly partition: number,
    private readonly deps: PartitionDeps,
    /** The queue of this partition's previous object (released, maybe still writing). */
    after: Promise<void> = Promise.resolve(),
  ) {
    this.queue = after;
  }

  get restored(): boolean {
    return this.position !== undefined;
  }

  /** Next offset to apply (undefined before the restore). */
  get nextOffset(): bigint | undefined {
    return this.position;
  }

  /** Settles when everything queued so far has run. */
  drained(): Promise<void> {
    return this.queue;
  }

  /** Runs fn after everything queued on the partition; a failure does not stop later work. */
  enqueue(fn: () => Promise<void>): Promise<void> {
    const run = this.queue.then(() => (this.released ? undefined : fn()));
    this.queue = run.catch((e: Error) => {
      this.deps.logger.warn(
        { partition: this.partition, err: e.message },
        'heartbeat partition work failed; it is retried',
      );
    });
    return run;
  }

  /** Drops the partition's leases (it moved to another instance); queued after the work in flight. */
  release(): Promise<void> {
    return this.enqueue(async () => {
      this.deps.table.dropPartition(this.partition);
      this.deps.metrics.partitionLag.remove({ partition: String(this.partition) });
      this.released = true;
    });
  }

  /** Loads leases and clock from Redis and publishes what the last owner left in the outbox. */
  async restore(): Promise<void> {
    const { table, store, metrics, logger } = this.deps;
    table.dropPartition(this.partition);
    this.epoch = await store.claim(this.partition);
    this.fenced = false;
    const [snapshot, committed] = await Promise.all([
      store.load(this.partition),
      this.deps.committedOffset(this.partition),
    ]);
    // Held until caught up, then silence counts from the catch-up. Judging while replaying, on the
    // records' times, finds deaths in a backlog sooner, but a backlog can span a broker outage this
    // instance never saw (its rejoin comes before it notices), and the first record after the outage
    // would make every agent not yet reconnected look dead: a CI run showed exactly that. Until
    // outages inside a backlog are recognised, a takeover holds. Right after an outage this instance
    // saw, agents also get the gap's grace.
    table.adoptPartition(this.partition, snapshot.clockMs);
    table.hold(this.partition, this.deps.gapGraceMs() ?? 0);
    this.written = snapshot.clockMs > 0;
    this.backlog = await this.findBacklogEnd(committed, snapshot.clockMs);
    for (const lease of snapshot.leases) table.restore(lease);
    this.position = committed;
    this.outbox = snapshot.outbox;
    this.registryOutbox = snapshot.registryOutbox;
    this.unsaved = [];
    metrics.restores.inc();
    logger.info(
      {
        partition: this.partition,
        leases: snapshot.leases.length,
        clockMs: snapshot.clockMs,
        outbox: snapshot.outbox.length,
      },
      'leases restored',
    );
    await this.publishOutbox();
  }

  /**
   * A backlog that reaches back further than any threshold (this service was down, or its group's
   * offsets are behind) holds beats that were stale before the replay began: they must revive and
   * register nobody. To tell them, the replay needs the broker time of the backlog's end.
   */
  private async findBacklogEnd(committed: bigint, previousClockMs: number): Promise<Backlog | undefined> {
    const high = await this.deps.highWatermark(this.partition);
    if (committed >= high) return undefined;
    // Wall clock against broker time, only to skip the read after an ordinary handover.
    if (previousClockMs > 0 && Date.now() - previousClockMs < LOOK_FOR_STALE_BEATS_AFTER_MS) return undefined;
    const end = await this.deps.backlogEnds.of(this.partition, high);
    if (!end) return undefined;
    this.deps.logger.info(
      { partition: this.partition, records: Number(high - committed), endBrokerMs: end.endBrokerMs },
      'replaying a heartbeat backlog: beats stale at its end revive and register nobody',
    );
    return { ...end, from: committed, startedAt: performance.now() };
  }

  /** Applies a batch of heartbeats; resolves once the leases are in Redis and the transitions in Kafka. */
  apply(records: Array<ConsumedRecord<Heartbeat>>, batch: BatchInfo): Promise<void> {
    return this.enqueue(async () => {
      if (this.fenced) throw new Error(`heartbeat partition ${this.partition} was claimed by a newer owner`);
      if (!this.restored) await this.restore();
      const transitions: AgentLivenessChanged[] = [];
      const backlog = this.backlog;
      let stale = 0;
      for (const r of records) {
        const isStale =
          backlog !== undefined &&
          BigInt(r.offset) < backlog.endOffset &&
          r.timestamp + r.value.intervalMs * r.value.missThreshold < backlog.endBrokerMs;
        if (isStale) stale += 1;
        const traceparent = r.headers.traceparent?.toString();
        const change = this.deps.table.beat(r.value, this.partition, r.timestamp, traceparent, isStale);
        if (change) transitions.push(change);
      }
      this.deps.metrics.beats.inc(records.length);
      if (stale > 0) this.deps.metrics.staleBeats.inc(stale);
      const next = BigInt(batch.lastOffset) + 1n;
      if (next > (this.position ?? 0n)) this.position = next;
      if (backlog && next >= backlog.endOffset) this.backlogReplayed(backlog);
      await this.persist(transitions);
    });
  }

  private backlogReplayed(backlog: Backlog): void {
    this.backlog = undefined;
    const records = Number(backlog.endOffset - backlog.from);
    const seconds = Math.max((performance.now() - backlog.startedAt) / 1000, 0.001);
    this.deps.metrics.backlogReplayRate.observe(records / seconds);
    this.deps.logger.info(
      {
        partition: this.partition,
        records,
        seconds: Math.round(seconds * 10) / 10,
        recordsPerSecond: Math.round(records / seconds),
      },
      'heartbeat backlog replayed',
    );
  }

  /** Queues a judgement at the partition's clock, unless one is queued already. */
  scheduleJudgement(judging: () => boolean): void {
    if (this.judgeQueued) return;
    this.judgeQueued = true;
    void this.enqueue(async () => {
      this.judgeQueued = false;
      if (!judging() || !this.restored || this.fenced) return;
      const judged = this.deps.table.judge(this.partition);
      for (const t of judged) this.causedBySilence(t);
      await this.persist(judged);
    });
  }

  private async persist(fresh: AgentLivenessChanged[]): Promise<void> {
    const { table, store, metrics, logger } = this.deps;
    const transitions = [...this.unsaved, ...fresh];
    this.unsaved = [];
    const changes = table.takeChanges(this.partition);
    const clockMs = table.clock(this.partition).now();
    const registry = registryEntries(changes, (id) => table.get(id));
    try {
      const { clockWritten, clockWasMissing } = await store.save(
        this.partition,
        this.epoch,
        changes,
        clockMs,
        transitions,
        registry,
      );
      if (clockWasMissing && this.written) {
        // Redis lost this partition's keys since our last write: write every lease again, also
        // those of agents that no longer beat (the dead ones would be forgotten otherwise).
        logger.warn(
          { partition: this.partition },
          'lease keys were missing in Redis; rewriting every lease of the partition',
        );
        metrics.redisLosses.inc();
        await store.save(this.partition, this.epoch, table.everything(this.partition), clockMs, []);
      }
      // Only a clock that reached Redis makes its later absence a loss (a write with nothing in it,
      // or before the first heartbeat, leaves Redis untouched).
      if (clockWritten) this.written = true;
    } catch (e) {
      if (e instanceof PartitionFenced) {
        // Nothing is kept for a retry: the leases and transitions are the new owner's to decide.
        this.fence(e);
        throw e;
      }
      // Keep both for the next attempt: the leases stay dirty, the transitions wait to be written.
      table.markDirty(this.partition, changes);
      this.unsaved = transitions;
      metrics.persistFailures.inc();
      throw e;
    }
    this.outbox.push(...transitions);
    this.registryOutbox.push(...registry);
    const decidedAt = performance.now();
    for (const t of fresh) this.decidedAt.set(t, decidedAt);
    for (const t of transitions) {
      logger.info(
        { agentId: t.agentId, from: t.from, to: t.to, since: t.since, reason: t.reason, partition: this.partition },
        'liveness changed',
      );
    }
    await this.publishOutbox();
  }

  private async publishOutbox(): Promise<void> {
    await this.publishRegistryOutbox();
    if (this.outbox.length === 0) return;
    const batch = this.outbox.slice();
    try {
      await this.deps.publish(
        batch.map((t) => ({
          value: t,
          key: t.agentId,
          context: this.traces.get(t) ?? this.lastBeatContext(t.agentId),
        })),
      );
    } catch (e) {
      this.deps.metrics.persistFailures.inc();
      throw e;
    }
    this.outbox.splice(0, batch.length);
    const ackedAt = performance.now();
    for (const t of batch) {
      this.deps.metrics.transitions.inc({ to: t.to });
      this.observeDetection(t, ackedAt);
    }
    await this.deps.store.published(this.partition, this.epoch, batch.length).catch(this.fenceOnFenced);
  }

  /** Registrations and tombstones, in order; a crash between the ack and the trim publishes them again (harmless on a compacted topic). */
  private async publishRegistryOutbox(): Promise<void> {
    if (this.registryOutbox.length === 0) return;
    const batch = this.registryOutbox.slice();
    await this.deps.publishRegistry(
      batch.map((e) =>
        'tombstone' in e
          ? { key: e.tombstone, value: { agentId: e.tombstone } as AgentRegistration, tombstone: true }
          : { value: e.registration },
      ),
    );
    this.registryOutbox.splice(0, batch.length);
    await this.deps.store.registryPublished(this.partition, this.epoch, batch.length).catch(this.fenceOnFenced);
  }

  private readonly fenceOnFenced = (e: unknown): never => {
    if (e instanceof PartitionFenced) this.fence(e);
    throw e;
  };

  /**
   * This instance lost the partition without being told (it was paused past its session, or cut
   * off from the broker): its leases here are stale and the new owner's are in Redis. It stops
   * judging the partition and drops its leases, which the next assignment restores if it comes.
   */
  private fence(e: PartitionFenced): void {
    if (this.fenced) return;
    this.fenced = true;
    this.deps.table.dropPartition(this.partition);
    this.outbox = [];
    this.registryOutbox = [];
    this.unsaved = [];
    this.deps.metrics.fencedWrites.inc();
    this.deps.logger.warn(
      { partition: this.partition, epoch: e.epoch, ownerEpoch: e.storedEpoch },
      'heartbeat partition claimed by a newer owner; its writes here are refused until it is assigned here again',
    );
  }

  /**
   * How late an unreachable was, on the broker: from the moment its agent's silence passed the
   * threshold to Kafka's ack of the event (the decision's lateness in broker time, plus the time
   * from deciding to the ack). A transition restored from an outbox has no decision time here.
   */
  private observeDetection(t: AgentLivenessChanged, ackedAt: number): void {
    const decidedAt = this.decidedAt.get(t);
    if (t.to !== 'unreachable' || decidedAt === undefined || t.lastHeartbeatAt === null) return;
    const lease = this.deps.table.get(t.agentId);
    if (!lease) return;
    const decisionLateMs = Math.max(0, t.since - t.lastHeartbeatAt - lease.intervalMs * lease.missThreshold);
    this.deps.metrics.detectionLatency.observe((decisionLateMs + (ackedAt - decidedAt)) / 1000);
  }

  /**
   * A transition a judgement made is caused by silence, not by the heartbeat before it: it starts
   * its own trace (always sampled, so heartbeats can be sampled down without losing heal chains),
   * linked to the agent's last heartbeat.
   */
  private causedBySilence(t: AgentLivenessChanged): void {
    this.traces.set(
      t,
      startCausedBySilence(`liveness ${t.to}`, this.lastBeatContext(t.agentId), {
        'vigil.agent.id': t.agentId,
        'vigil.liveness.from': t.from,
        'vigil.liveness.to': t.to,
        'vigil.liveness.reason': t.reason,
      }),
    );
  }

  /** The context the agent's last heartbeat was published in (what a transition it caused continues). */
  private lastBeatContext(agentId: string): TraceContext {
    const tp = this.deps.table.get(agentId)?.traceparent;
    return extractTraceContext(tp ? { traceparent: tp } : {});
  }
}

import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Topics, type AgentLivenessChanged, type Heartbeat, type LivenessState } from '@vigil/events';
import {
  extractTraceContext,
  type BatchInfo,
  type ConsumedRecord,
  type EventProducer,
  type GroupListener,
  type KafkaAdminFacade,
  type KafkaClient,
} from '@vigil/kafka';
import {
  CONFIG,
  HEALTH,
  KAFKA,
  KAFKA_ADMIN,
  LOGGER,
  MEMBERSHIP,
  METRICS,
  PRODUCER,
  type GroupMembership,
  type HealthRegistry,
  type Logger,
} from '@vigil/platform';
import { Gauge, type Registry } from 'prom-client';
import type { HeartbeatConfig } from './config';
import { LeaseTable, type Lease } from './detection/lease-table';
import { HEARTBEAT_METRICS, type HeartbeatMetrics } from './heartbeat-metrics';
import { LeaseStore } from './lease-store';
import { BacklogEnds, type BacklogEnd } from './backlog-ends';

/**
 * A restored partition whose previous owner's clock is older than this (wall clock, used only to
 * decide whether to look) may have a long backlog: read where it ends before replaying it.
 */
const LOOK_FOR_STALE_BEATS_AFTER_MS = 10_000;

const TOPIC = Topics.heartbeats.name;

/**
 * The heartbeat instance's leases: applies heartbeats of the partitions it owns, judges them on each
 * partition's broker-time clock, persists them to Redis and publishes every transition once.
 *
 * Work on one partition (a batch, a judgement, a restore) runs strictly in order on that
 * partition's queue, so the lease table, Redis and the liveness topic see one sequence. On every
 * group join the assigned partitions are reloaded from Redis: whoever owned them before (this
 * instance, another one, or one that crashed) wrote every lease and transition there before
 * committing, so the new owner keeps timing from where they were.
 */
@Injectable()
export class LivenessTracker implements OnModuleInit, OnApplicationShutdown, GroupListener {
  private readonly table: LeaseTable;
  /** Partitions whose leases are loaded, and the next offset to apply on each. */
  private readonly position = new Map<number, bigint>();
  private readonly queues = new Map<number, Promise<void>>();
  private readonly judgeQueued = new Set<number>();
  /** Transitions written to the outbox but not yet acknowledged by Kafka, per partition. */
  private readonly unpublished = new Map<number, AgentLivenessChanged[]>();
  /** Transitions made in memory whose Redis write failed; the next write of the partition carries them. */
  private readonly unsaved = new Map<number, AgentLivenessChanged[]>();
  private readonly restoring = new Set<number>();
  /** Partitions whose clock this instance has written to Redis (so a missing one means lost data). */
  private readonly written = new Set<number>();
  private assigned = new Set<number>();
  private judging = false;
  private stopped = false;
  private timer?: NodeJS.Timeout;
  private ticking = false;
  /** Set while the high watermarks cannot be read (the broker is away from this instance). */
  private brokerLostAt?: number;
  /** When this instance last came back from a broker gap (monotonic ms). */
  private gapEndedAt?: number;
  /** The group's committed offsets on the topic, read once per join: every restore of the join needs them. */
  private committed?: Promise<Map<number, bigint>>;
  /** Partitions replaying a backlog that reaches far back: where it ends, and how the replay goes. */
  private readonly backlog = new Map<number, BacklogEnd & { startedAt: number; from: bigint }>();
  private readonly backlogEnds: BacklogEnds;
  /** When each fresh transition was decided (monotonic ms): its detection latency runs until Kafka's ack. */
  private readonly decidedAt = new WeakMap<AgentLivenessChanged, number>();

  constructor(
    private readonly store: LeaseStore,
    @Inject(PRODUCER) private readonly producer: EventProducer,
    @Inject(KAFKA_ADMIN) private readonly admin: KafkaAdminFacade,
    @Inject(KAFKA) kafka: KafkaClient,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(HEARTBEAT_METRICS) private readonly metrics: HeartbeatMetrics,
    @Inject(METRICS) registry: Registry,
    @Inject(MEMBERSHIP) private readonly membership: GroupMembership,
    @Inject(HEALTH) private readonly health: HealthRegistry,
    @Inject(CONFIG) private readonly config: HeartbeatConfig,
  ) {
    const table = new LeaseTable(undefined, { forgetUnreachableAfterMs: config.FORGET_UNREACHABLE_AFTER_MS });
    this.table = table;
    this.backlogEnds = new BacklogEnds(kafka, TOPIC, (e) =>
      this.logger.warn({ err: e.message }, 'could not read where the heartbeat backlog ends; replaying it without'),
    );
    new Gauge({
      name: 'vigil_heartbeat_agents',
      help: 'Agents tracked by this instance, by liveness state',
      labelNames: ['state'] as const,
      registers: [registry],
      collect() {
        this.reset();
        const counts = new Map<LivenessState, number>();
        for (const l of table.all()) counts.set(l.state, (counts.get(l.state) ?? 0) + 1);
        for (const [state, n] of counts) this.set({ state }, n);
      },
    });
  }

  onModuleInit(): void {
    this.membership.subscribe(this);
    this.timer = setInterval(() => void this.tick(), this.config.JUDGE_INTERVAL_MS);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await Promise.allSettled([...this.queues.values()]);
  }

  /** What this instance tracks (its partitions only). */
  leases(): Lease[] {
    return this.table.all();
  }

  // --- group membership -------------------------------------------------------------------------

  rebalancing(): void {
    // Until the join tells us what we own, another member may already judge our old partitions.
    this.judging = false;
  }

  joined(assignment: Record<string, number[]>): void {
    const mine = new Set(assignment[TOPIC] ?? []);
    const previous = this.assigned;
    this.assigned = mine;
    this.committed = undefined; // the previous owners have committed since
    for (const p of previous) if (!mine.has(p)) void this.enqueue(p, async () => this.release(p));
    for (const p of mine) this.scheduleRestore(p);
    this.judging = true;
    this.logger.info({ partitions: [...mine].sort((a, b) => a - b) }, 'heartbeat partitions assigned');
  }

  private release(partition: number): void {
    this.written.delete(partition);
    this.table.dropPartition(partition);
    this.position.delete(partition);
    this.backlog.delete(partition);
    this.unpublished.delete(partition);
    this.unsaved.delete(partition);
    this.metrics.partitionLag.remove({ partition: String(partition) });
  }

  private scheduleRestore(partition: number): void {
    if (this.restoring.has(partition)) return;
    this.restoring.add(partition);
    const release = this.health.hold(`restoring heartbeat partition ${partition}`);
    void this.enqueue(partition, async () => {
      try {
        if (this.assigned.has(partition)) await this.restore(partition);
      } finally {
        this.restoring.delete(partition);
        release();
      }
    });
  }

  /** Loads a partition's leases and clock from Redis and publishes what its last owner left in the outbox. */
  private async restore(partition: number): Promise<void> {
    this.release(partition);
    const [snapshot, committed] = await Promise.all([this.store.load(partition), this.committedOffset(partition)]);
    // Judged while replaying, on the records' broker times: the agents kept reaching the broker
    // during the handover or the downtime, and the log says who did. Held only right after a broker
    // outage: the group rejoins once the coordinator is back, and agents are still reconnecting.
    this.table.adoptPartition(partition, snapshot.clockMs);
    if (this.nearBrokerGap()) this.table.hold(partition, this.config.GAP_GRACE_MS);
    if (snapshot.clockMs > 0) this.written.add(partition);
    await this.findBacklogEnd(partition, committed, snapshot.clockMs);
    for (const lease of snapshot.leases) this.table.restore(lease);
    this.position.set(partition, committed);
    this.unpublished.set(partition, snapshot.outbox);
    this.metrics.restores.inc();
    this.logger.info(
      { partition, leases: snapshot.leases.length, clockMs: snapshot.clockMs, outbox: snapshot.outbox.length },
      'leases restored',
    );
    await this.publishOutbox(partition);
  }

  /**
   * A backlog that reaches back further than any threshold (this service was down, or its group's
   * offsets are behind) holds beats that were stale before the replay began: they must revive and
   * register nobody. To tell them, the replay needs the broker time of the backlog's end.
   */
  private async findBacklogEnd(partition: number, committed: bigint, previousClockMs: number): Promise<void> {
    const high = (await this.watermarks()).get(partition) ?? 0n;
    if (committed >= high) return;
    // Wall clock against broker time, only to skip the read after an ordinary handover.
    if (previousClockMs > 0 && Date.now() - previousClockMs < LOOK_FOR_STALE_BEATS_AFTER_MS) return;
    const end = await this.backlogEnds.of(partition, high);
    if (!end) return;
    this.backlog.set(partition, { ...end, from: committed, startedAt: performance.now() });
    this.logger.info(
      { partition, records: Number(high - committed), endBrokerMs: end.endBrokerMs },
      'replaying a heartbeat backlog: beats stale at its end revive and register nobody',
    );
  }

  // --- heartbeats -------------------------------------------------------------------------------

  /** Applies a batch of heartbeats; resolves once the leases are in Redis and the transitions in Kafka. */
  async apply(records: Array<ConsumedRecord<Heartbeat>>, batch: BatchInfo): Promise<void> {
    const { partition } = batch;
    await this.enqueue(partition, async () => {
      if (!this.position.has(partition)) await this.restore(partition);
      const transitions: AgentLivenessChanged[] = [];
      const backlog = this.backlog.get(partition);
      let stale = 0;
      for (const r of records) {
        const isStale =
          backlog !== undefined &&
          BigInt(r.offset) < backlog.endOffset &&
          r.timestamp + r.value.intervalMs * r.value.missThreshold < backlog.endBrokerMs;
        if (isStale) stale += 1;
        const change = this.table.beat(r.value, partition, r.timestamp, r.headers.traceparent?.toString(), isStale);
        if (change) transitions.push(change);
      }
      this.metrics.beats.inc(records.length);
      if (stale > 0) this.metrics.staleBeats.inc(stale);
      const next = BigInt(batch.lastOffset) + 1n;
      if (next > (this.position.get(partition) ?? 0n)) this.position.set(partition, next);
      if (backlog && next >= backlog.endOffset) this.backlogReplayed(partition, backlog);
      await this.persist(partition, transitions);
    });
  }

  private backlogReplayed(partition: number, backlog: BacklogEnd & { startedAt: number; from: bigint }): void {
    this.backlog.delete(partition);
    const records = Number(backlog.endOffset - backlog.from);
    const seconds = (performance.now() - backlog.startedAt) / 1000;
    this.metrics.backlogReplayRate.observe(records / Math.max(seconds, 0.001));
    this.logger.info(
      { partition, records, seconds: Math.round(seconds * 10) / 10, recordsPerSecond: Math.round(records / seconds) },
      'heartbeat backlog replayed',
    );
  }

  // --- judging ----------------------------------------------------------------------------------

  /**
   * Reads the high watermarks; a partition whose every record is applied lets its clock move up to
   * the moment of the request; then every owned partition is judged on its queue.
   */
  private async tick(): Promise<void> {
    if (this.ticking || this.stopped) return;
    this.ticking = true;
    try {
      const requestedAt = performance.now();
      const watermarks = await this.watermarks();
      // A request that hung for long (KafkaJS retries while the broker is away) is an outage too;
      // a merely slow one (a loaded machine) is not, or every hiccup would cost a grace period.
      if (performance.now() - requestedAt > 10_000) this.brokerLostAt ??= requestedAt;
      if (this.brokerLostAt !== undefined) {
        // This instance could not reach the broker; the agents probably could not either. Hold
        // judgement until caught up, then count silence from then on.
        this.logger.warn(
          { seconds: Math.round((performance.now() - this.brokerLostAt) / 1000) },
          'broker reachable again; partitions held until caught up',
        );
        for (const partition of this.position.keys()) this.table.hold(partition, this.config.GAP_GRACE_MS);
        this.brokerLostAt = undefined;
        this.gapEndedAt = performance.now();
        this.metrics.brokerGaps.inc();
      }
      for (const [partition, position] of this.position) {
        const high = watermarks.get(partition);
        if (high === undefined) continue;
        this.metrics.partitionLag.set({ partition: String(partition) }, Number(high > position ? high - position : 0n));
        if (position >= high) this.table.caughtUp(partition, requestedAt);
      }
      if (!this.judging) return;
      // A restore that failed (Redis away) is tried again; the partition is not judged meanwhile.
      for (const partition of this.assigned) if (!this.position.has(partition)) this.scheduleRestore(partition);
      for (const partition of this.position.keys()) {
        if (this.judgeQueued.has(partition)) continue;
        this.judgeQueued.add(partition);
        void this.enqueue(partition, async () => {
          this.judgeQueued.delete(partition);
          if (!this.judging || !this.position.has(partition)) return;
          await this.persist(partition, this.table.judge(partition));
        });
      }
    } catch (e) {
      this.brokerLostAt ??= performance.now();
      this.logger.warn({ err: (e as Error).message }, 'could not read heartbeat high watermarks; clocks hold');
    } finally {
      this.ticking = false;
    }
  }

  /** During a broker gap, or within a minute after it (a rejoin can follow a restart by a session timeout and more). */
  private nearBrokerGap(): boolean {
    if (this.brokerLostAt !== undefined) return true;
    return this.gapEndedAt !== undefined && performance.now() - this.gapEndedAt < 60_000;
  }

  private watermarks(): Promise<Map<number, bigint>> {
    return this.admin.highWatermarks(TOPIC);
  }

  /** Where the consumer resumes: the committed offset, or (a new group starts at the end) the high watermark. */
  private async committedOffset(partition: number): Promise<bigint> {
    const read = (this.committed ??= this.readCommitted());
    let offsets: Map<number, bigint>;
    try {
      offsets = await read;
    } catch (e) {
      if (this.committed === read) this.committed = undefined; // the next restore asks again
      throw e;
    }
    const offset = offsets.get(partition) ?? -1n;
    if (offset >= 0n) return offset;
    return (await this.watermarks()).get(partition) ?? 0n;
  }

  private readCommitted(): Promise<Map<number, bigint>> {
    return this.admin.committedOffsets(this.config.CONSUMER_GROUP, TOPIC);
  }

  // --- persistence and publishing ---------------------------------------------------------------

  /**
   * Leases, clock and the new transitions go to Redis in one transaction first (the transitions into
   * the partition's outbox), then to Kafka, then the outbox is trimmed. A crash in between leaves
   * them in the outbox for the next owner: a transition is never lost; it is published twice only
   * if the crash falls between Kafka's ack and the trim.
   */
  private async persist(partition: number, fresh: AgentLivenessChanged[]): Promise<void> {
    const transitions = [...(this.unsaved.get(partition) ?? []), ...fresh];
    this.unsaved.delete(partition);
    const changes = this.table.takeChanges(partition);
    try {
      const { clockWritten, clockWasMissing } = await this.store.save(
        partition,
        changes,
        this.table.clock(partition).now(),
        transitions,
      );
      if (clockWasMissing && this.written.has(partition)) {
        // Redis lost this partition's keys since our last write: write every lease again, also
        // those of agents that no longer beat (the dead ones would be forgotten otherwise).
        this.logger.warn({ partition }, 'lease keys were missing in Redis; rewriting every lease of the partition');
        this.metrics.redisLosses.inc();
        await this.store.save(partition, this.table.everything(partition), this.table.clock(partition).now(), []);
      }
      // Only a clock that reached Redis makes its later absence a loss (a write with nothing in it,
      // or before the first heartbeat, leaves Redis untouched).
      if (clockWritten) this.written.add(partition);
    } catch (e) {
      // Keep both for the next attempt: the leases stay dirty, the transitions wait to be written.
      this.table.markDirty(partition, changes);
      if (transitions.length > 0) this.unsaved.set(partition, transitions);
      this.metrics.persistFailures.inc();
      throw e;
    }
    const pending = this.unpublished.get(partition) ?? [];
    pending.push(...transitions);
    this.unpublished.set(partition, pending);
    const decidedAt = performance.now();
    for (const t of fresh) this.decidedAt.set(t, decidedAt);
    for (const t of transitions) {
      this.logger.info(
        { agentId: t.agentId, from: t.from, to: t.to, since: t.since, reason: t.reason, partition },
        'liveness changed',
      );
    }
    await this.publishOutbox(partition);
  }

  private async publishOutbox(partition: number): Promise<void> {
    const pending = this.unpublished.get(partition) ?? [];
    if (pending.length === 0) return;
    const batch = pending.slice();
    try {
      await this.producer.send(
        Topics.liveness,
        batch.map((t) => ({
          value: t,
          key: t.agentId,
          context: extractTraceContext(this.traceOf(t.agentId)),
        })),
      );
    } catch (e) {
      this.metrics.persistFailures.inc();
      throw e;
    }
    pending.splice(0, batch.length);
    const ackedAt = performance.now();
    for (const t of batch) {
      this.metrics.transitions.inc({ to: t.to });
      this.observeDetection(t, ackedAt);
    }
    await this.store.published(partition, batch.length);
  }

  /**
   * How late an unreachable was, on the broker: from the moment its agent's silence passed the
   * threshold to Kafka's ack of the event (the decision's lateness in broker time, plus the time
   * from deciding to the ack). A transition restored from an outbox has no decision time here.
   */
  private observeDetection(t: AgentLivenessChanged, ackedAt: number): void {
    const decidedAt = this.decidedAt.get(t);
    if (t.to !== 'unreachable' || decidedAt === undefined || t.lastHeartbeatAt === null) return;
    const lease = this.table.get(t.agentId);
    if (!lease) return;
    const decisionLateMs = Math.max(0, t.since - t.lastHeartbeatAt - lease.intervalMs * lease.missThreshold);
    this.metrics.detectionLatency.observe((decisionLateMs + (ackedAt - decidedAt)) / 1000);
  }

  private traceOf(agentId: string): Record<string, string> {
    const tp = this.table.get(agentId)?.traceparent;
    return tp ? { traceparent: tp } : {};
  }

  /** Runs fn after everything queued on the partition; a failure does not stop later work. */
  private enqueue(partition: number, fn: () => Promise<void>): Promise<void> {
    const previous = this.queues.get(partition) ?? Promise.resolve();
    const run = previous.then(fn);
    const settled = run.catch((e: Error) => {
      this.logger.warn({ partition, err: e.message }, 'heartbeat partition work failed; it is retried');
    });
    this.queues.set(partition, settled);
    return run;
  }
}

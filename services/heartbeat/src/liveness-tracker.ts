import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import {
  Topics,
  type AgentLivenessChanged,
  type AgentRegistration,
  type Heartbeat,
  type LivenessState,
} from '@vigil/events';
import {
  CoalescedSends,
  type BatchInfo,
  type ConsumedRecord,
  type EventProducer,
  type OutgoingRecord,
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
import { BacklogEnds } from './backlog-ends';
import type { HeartbeatConfig } from './config';
import { LeaderWatch } from './detection/leader-watch';
import { LeaseTable, type Lease } from './detection/lease-table';
import { HEARTBEAT_METRICS, type HeartbeatMetrics } from './heartbeat-metrics';
import { LeaseStore } from './lease-store';
import { OwnedPartition, type PartitionDeps } from './owned-partition';

const TOPIC = Topics.heartbeats.name;

/**
 * The heartbeat instance: which partitions it owns (one OwnedPartition each, see there), and the
 * tick that reads the high watermarks, moves caught-up clocks and queues judgements. On every group
 * join the assigned partitions are restored from Redis: whoever owned them before (this instance,
 * another one, or one that crashed) wrote every lease and transition there before committing, so the
 * new owner keeps timing from where they were.
 */
@Injectable()
export class LivenessTracker implements OnModuleInit, OnApplicationShutdown, GroupListener {
  private readonly table: LeaseTable;
  private readonly owned = new Map<number, OwnedPartition>();
  /** Queues of released partitions still writing: a new owner object of the partition waits for it. */
  private readonly releasing = new Map<number, Promise<void>>();
  private readonly restoring = new Set<number>();
  private readonly deps: PartitionDeps;
  private assigned = new Set<number>();
  private judging = false;
  private stopped = false;
  private timer?: NodeJS.Timeout;
  private ticking = false;
  /** Set while the high watermarks cannot be read (the broker is away from this instance). */
  private brokerLostAt?: number;
  private readonly leaders = new LeaderWatch();
  /** When this instance last came back from a broker gap (monotonic ms). */
  private gapEndedAt?: number;
  /** The group's committed offsets on the topic, read once per join: every restore of the join needs them. */
  private committed?: Promise<Map<number, bigint>>;

  constructor(
    store: LeaseStore,
    @Inject(PRODUCER) producer: EventProducer,
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
    const liveness = new CoalescedSends((records: Array<OutgoingRecord<AgentLivenessChanged>>) =>
      producer.send(Topics.liveness, records),
    );
    const registrations = new CoalescedSends((records: Array<OutgoingRecord<AgentRegistration>>) =>
      producer.send(Topics.agentRegistry, records),
    );
    this.deps = {
      table,
      store,
      // A correlated outage makes every owned partition publish at once; one request per wave
      // instead of one per partition halves the time to ack a 3,000-transition burst (bench/
      // liveness-publish-floor).
      publish: (records) => liveness.send(records),
      publishRegistry: (records) => registrations.send(records),
      metrics,
      logger,
      backlogEnds: new BacklogEnds(kafka, TOPIC, (e) =>
        logger.warn({ err: e.message }, 'could not read where the heartbeat backlog ends; replaying it without'),
      ),
      committedOffset: (p) => this.committedOffset(p),
      highWatermark: async (p) => (await this.watermarks()).get(p) ?? 0n,
      gapGraceMs: () => (this.nearBrokerGap() ? config.GAP_GRACE_MS : undefined),
    };
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
    await Promise.allSettled([...[...this.owned.values()].map((p) => p.drained()), ...this.releasing.values()]);
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
    this.assigned = mine;
    this.committed = undefined; // the previous owners have committed since
    for (const [p, part] of this.owned) {
      if (mine.has(p)) continue;
      this.owned.delete(p);
      const gone = part.release();
      this.releasing.set(p, gone);
      void gone.finally(() => this.releasing.get(p) === gone && this.releasing.delete(p));
    }
    for (const p of mine) this.scheduleRestore(p);
    this.judging = true;
    this.logger.info({ partitions: [...mine].sort((a, b) => a - b) }, 'heartbeat partitions assigned');
  }

  private partition(p: number): OwnedPartition {
    let part = this.owned.get(p);
    if (!part) {
      part = new OwnedPartition(
        p,
        this.deps,
        this.releasing.get(p)?.catch(() => undefined),
      );
      this.owned.set(p, part);
    }
    return part;
  }

  /** Restores the partition on its queue (again, on every join: its last owner may have written since). */
  private scheduleRestore(p: number): void {
    if (this.restoring.has(p)) return;
    this.restoring.add(p);
    const release = this.health.hold(`restoring heartbeat partition ${p}`);
    void this.partition(p).enqueue(async () => {
      try {
        if (this.assigned.has(p)) await this.partition(p).restore();
      } finally {
        this.restoring.delete(p);
        release();
      }
    });
  }

  // --- heartbeats -------------------------------------------------------------------------------

  /** Applies a batch of heartbeats; resolves once the leases are in Redis and the transitions in Kafka. */
  async apply(records: Array<ConsumedRecord<Heartbeat>>, batch: BatchInfo): Promise<void> {
    // A batch fetched before a rebalance took the partition away: its next owner applies it.
    if (!this.assigned.has(batch.partition)) throw new Error(`heartbeat partition ${batch.partition} is not ours`);
    await this.partition(batch.partition).apply(records, batch);
  }

  // --- judging ----------------------------------------------------------------------------------

  /**
   * Reads the high watermarks and the leaders; a partition that changed leader is held (see
   * LeaderWatch); a partition whose every record is applied lets its clock move up to the moment of
   * the request; then every owned partition is judged on its queue.
   */
  private async tick(): Promise<void> {
    if (this.ticking || this.stopped) return;
    this.ticking = true;
    try {
      const requestedAt = performance.now();
      const [watermarks, leaders] = await Promise.all([this.watermarks(), this.admin.partitionLeaders(TOPIC)]);
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
        for (const partition of this.owned.keys()) this.table.hold(partition, this.config.GAP_GRACE_MS);
        this.brokerLostAt = undefined;
        this.gapEndedAt = performance.now();
        this.metrics.brokerGaps.inc();
      }
      for (const partition of this.leaders.changed(leaders)) {
        if (!this.owned.has(partition)) continue;
        // Its agents could not be heard while it changed hands; silence counts again once caught up.
        this.table.hold(partition, this.config.GAP_GRACE_MS);
        this.metrics.leaderChanges.inc();
        this.logger.info(
          { partition, leader: leaders.get(partition) },
          'heartbeat partition changed leader; held until caught up',
        );
      }
      for (const [partition, part] of this.owned) {
        const position = part.nextOffset;
        const high = watermarks.get(partition);
        if (high === undefined || position === undefined) continue;
        this.metrics.partitionLag.set({ partition: String(partition) }, Number(high > position ? high - position : 0n));
        if (position >= high) this.table.caughtUp(partition, requestedAt);
      }
      if (!this.judging) return;
      for (const [partition, part] of this.owned) {
        // A restore that failed (Redis away) is tried again; the partition is not judged meanwhile.
        if (!part.restored) this.scheduleRestore(partition);
        else part.scheduleJudgement(() => this.judging);
      }
    } catch (e) {
      // Once per outage: ticks come every JUDGE_INTERVAL_MS.
      if (this.brokerLostAt === undefined)
        this.logger.warn(
          { err: (e as Error).message },
          'could not read heartbeat high watermarks or leaders; clocks hold',
        );
      this.brokerLostAt ??= performance.now();
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
}

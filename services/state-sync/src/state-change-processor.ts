import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { RecordHeaderNames, Topics, type SchemaCodec, type StateChangeEvent } from '@vigil/events';
import {
  inBatchSpan,
  PartitionNotReady,
  type BatchInfo,
  type ConsumedRecord,
  type GroupListener,
  type KafkaAdminFacade,
  type KafkaClient,
  type PartitionProducers,
} from '@vigil/kafka';
import {
  CODEC,
  CONFIG,
  HEALTH,
  KAFKA,
  KAFKA_ADMIN,
  LOGGER,
  MEMBERSHIP,
  type GroupMembership,
  type HealthRegistry,
  type Logger,
} from '@vigil/platform';
import { ChangelogRestore } from './changelog-restore';
import type { StateSyncConfig } from './config';
import { FaultInjector } from './fault-injection';
import type { StateSyncMetrics } from './state-metrics';
import { StateStore } from './state-store';
import { CHANGELOG_PRODUCERS, STATE_SYNC_METRICS } from './tokens';

/** A partition's changelog read: pending until Redis reflects everything before the partition's end. */
interface Restore {
  promise: Promise<void>;
  done: boolean;
}

/**
 * Applies StateChangeEvents to Redis and publishes each accepted change once to the changelog.
 *
 * Exactly once, with two systems: the changelog record of entity E always goes to the changelog
 * partition equal to E's input partition, and E's Redis hash keeps `published`, the newest version
 * the changelog is known to hold. Offsets are committed only after Redis and the changelog have a
 * batch, so after a crash the uncommitted events come back: the version gate refuses to apply them
 * twice, and an event that was applied but is newer than `published` is published now. A crash
 * after the changelog acked but before the marker moved is covered by reading the changelog
 * partition from its checkpoint (every record before it is reflected in the markers) whenever this
 * instance takes a partition over or a batch failed. Before that read the partition's transactional
 * producer is fenced: an earlier owner (crashed, or paused past its session and still mid-batch)
 * can no longer commit a publish there, so the read sees all it ever will, and a late publish fails
 * instead of writing a second copy.
 *
 * That read is a restore phase, not part of a batch: with an empty Redis it is the whole changelog,
 * which takes far longer than a consumer's session. It starts as soon as partitions are assigned
 * (as Kafka Streams restores its stores before processing); a batch that comes before it ends
 * pauses its partition (PartitionNotReady) and is applied once the restore is done.
 */
@Injectable()
export class StateChangeProcessor implements OnModuleInit, GroupListener {
  private generation = -1;
  private readonly restores = new Map<number, Restore>();
  /** Restores of an earlier generation still running: a new one for the partition waits for it. */
  private readonly stillRunning = new Map<number, Promise<void>>();
  private assigned = new Set<number>();
  private batches = 0;
  private clusterId?: Promise<string>;
  private readonly faults: FaultInjector;
  private readonly restore: ChangelogRestore;
  /** Not ready before the first assignment: until then nobody knows which partitions need a restore. */
  private readonly unassigned: () => void;

  constructor(
    private readonly store: StateStore,
    @Inject(CHANGELOG_PRODUCERS) private readonly producers: PartitionProducers,
    @Inject(CODEC) codec: SchemaCodec,
    @Inject(KAFKA) kafka: KafkaClient,
    @Inject(KAFKA_ADMIN) private readonly admin: KafkaAdminFacade,
    @Inject(HEALTH) health: HealthRegistry,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(STATE_SYNC_METRICS) private readonly metrics: StateSyncMetrics,
    @Inject(MEMBERSHIP) private readonly membership: GroupMembership,
    @Inject(CONFIG) config: StateSyncConfig,
  ) {
    this.unassigned = health.hold('waiting for a partition assignment');
    this.faults = new FaultInjector(config.FAULT_INJECT, logger);
    this.restore = new ChangelogRestore({
      store,
      kafka,
      codec,
      admin,
      health,
      metrics,
      logger,
      clusterId: () => this.kafkaClusterId(),
      sliceRecords: config.RESTORE_SLICE_RECORDS,
      // The fence comes first: once it resolves, whatever an earlier owner of a partition sent is
      // committed (and the read sees it) or aborted, and that owner can never commit there again.
      fence: (p) => this.producers.fence(p),
    });
  }

  onModuleInit(): void {
    this.membership.subscribe(this);
  }

  joined(assignment: Record<string, number[]>, generation: number): void {
    const mine = assignment[Topics.stateChanges.name] ?? [];
    for (const p of this.assigned) if (!mine.includes(p)) void this.producers.release(p);
    this.assigned = new Set(mine);
    this.newGeneration(generation);
    if (mine.length > 0) this.startRestore(mine);
    this.unassigned();
  }

  /** A rebalance: another owner may have published since; every partition's tail is read again. */
  private newGeneration(generation: number): void {
    if (generation === this.generation) return;
    this.generation = generation;
    const unfinished = [...this.restores].filter(([, r]) => !r.done);
    for (const [p, r] of unfinished) this.stillRunning.set(p, settled(r.promise));
    this.restores.clear();
  }

  /** One batch of one partition; resolves once Redis and the changelog have it (then it may commit). */
  async process(records: Array<ConsumedRecord<StateChangeEvent>>, batch: BatchInfo): Promise<void> {
    const { partition, generation, assignment } = batch;
    const timer = this.metrics.batchSeconds.startTimer();
    try {
      this.newGeneration(generation);
      this.awaitRestored(partition, assignment);
      await this.applyAndPublish(records, partition);
    } catch (e) {
      // What this attempt published is unknown now: read the changelog tail again before retrying.
      if (!(e instanceof PartitionNotReady)) this.restores.delete(partition);
      throw e;
    } finally {
      timer();
    }
  }

  /**
   * Returns when the partition's restore is done; otherwise starts one (for every assigned partition
   * that needs it: one read serves them all) and throws PartitionNotReady, which pauses the partition
   * until it ends.
   */
  private awaitRestored(partition: number, assignment: number[]): void {
    const restore = this.restores.get(partition) ?? this.startRestore([partition, ...assignment]);
    if (!restore.done) throw new PartitionNotReady(restore.promise, `restoring changelog partition ${partition}`);
  }

  /** One changelog read for those of these partitions that have none under way or done. */
  private startRestore(partitions: number[]): Restore {
    const pending = [...new Set(partitions)].filter((p) => !this.restores.has(p)).sort((a, b) => a - b);
    // Two reads of one partition at once would move its checkpoint back and forth: wait for the
    // earlier one (it stops at its next slice if the partition left this instance).
    // Waited for a bounded time only: two reads at once cost work but never correctness (each moves a
    // checkpoint only past what it restored), a restore that never ends would pause them forever.
    const earlier = pending.flatMap((p) => this.stillRunning.get(p) ?? []);
    const waited = Promise.race([Promise.all(earlier), new Promise((r) => setTimeout(r, 30_000).unref())]);
    const owned = () => pending.every((p) => this.assigned.has(p));
    const started: Restore = {
      promise: waited.then(() => this.restore.run(pending, owned)),
      done: false,
    };
    started.promise.then(
      () => {
        started.done = true;
        for (const p of pending)
          if (this.stillRunning.get(p) && this.restores.get(p) === started) this.stillRunning.delete(p);
      },
      (e: Error) => {
        this.logger.warn({ partitions: pending, err: e.message }, 'changelog restore failed; retried');
        for (const p of pending) if (this.restores.get(p) === started) this.restores.delete(p);
      },
    );
    for (const p of pending) this.restores.set(p, started);
    return started;
  }

  private async applyAndPublish(records: Array<ConsumedRecord<StateChangeEvent>>, partition: number) {
    const events = records.map((r) => r.value);
    this.batches += 1;
    // One span for the batch's Lua apply (one script call for all of it), in each record's trace.
    const applying = this.metrics.batchPhaseSeconds.startTimer({ phase: 'apply' });
    const { checkpoint, results } = await inBatchSpan(
      'vigil.state apply',
      records.map((r) => r.context),
      { 'db.system.name': 'redis', 'db.operation.name': 'EVALSHA' },
      async (span) => {
        const out = await this.store.apply(partition, events);
        span.setAttribute('vigil.applied', out.results.filter((r) => r.outcome === 'applied').length);
        return out;
      },
    ).finally(applying);
    // The restore wrote this partition's checkpoint; if it is gone, Redis lost data since (a restart
    // without persistence, a failover). The batch fails and the retry rebuilds from the changelog
    // first: what this attempt applied is then newer than the changelog (unpublished, so the retry
    // finds it a duplicate and publishes it) or no newer (the restore marks it published).
    if (!checkpoint) {
      this.metrics.recoveries.inc({ what: 'redis_lost' });
      throw new Error(`Redis lost state-sync's data for partition ${partition}; rebuilding from the changelog`);
    }
    const toPublish: Array<{ record: ConsumedRecord<StateChangeEvent>; recovered: boolean }> = [];
    const queued = new Set<string>();
    const outcomes = { applied: 0, duplicate: 0, stale: 0 };
    results.forEach((r, i) => {
      const record = records[i]!;
      const e = record.value;
      outcomes[r.outcome] += 1;
      const key = `${e.entityId}@${e.version}`;
      if (r.outcome === 'applied' && !queued.has(key)) {
        toPublish.push({ record, recovered: false });
        queued.add(key);
      } else if (r.outcome === 'duplicate' && e.version > r.publishedVersion && !queued.has(key)) {
        // Applied by an earlier attempt whose changelog record never made it.
        toPublish.push({ record, recovered: true });
        queued.add(key);
      } else if (r.outcome !== 'applied') {
        this.logger.debug(
          { entityId: e.entityId, version: e.version, eventId: e.eventId, outcome: r.outcome, stored: r.storedVersion },
          'state change not applied',
        );
      }
    });
    for (const [outcome, n] of Object.entries(outcomes)) if (n > 0) this.metrics.events.inc({ outcome }, n);
    if (toPublish.length === 0) return;
    this.faults.reached('after-apply', this.batches);

    const publishing = this.metrics.batchPhaseSeconds.startTimer({ phase: 'publish' });
    const producer = await this.producers.forPartition(partition);
    const metadata = await producer
      .send(
        Topics.stateChangelog,
        toPublish.map(({ record }) => ({
          value: record.value,
          partition,
          tombstone: record.value.eventType === 'deleted',
          // The input's bytes as they came: the same StateChangeEvent, under the schema id the agent
          // wrote it with, which changelog readers resolve like any other version of the schema.
          encoded: record.bytes ?? undefined,
          context: record.context,
          headers: {
            [RecordHeaderNames.version]: String(record.value.version),
            [RecordHeaderNames.eventId]: record.value.eventId,
            [RecordHeaderNames.agentId]: record.value.agentId,
          },
        })),
      )
      .finally(publishing);
    this.faults.reached('after-publish', this.batches);
    const last = metadata.filter((m) => m.partition === partition && m.lastOffset !== undefined).at(-1)?.lastOffset;
    const clusterId = await this.kafkaClusterId();
    const marking = this.metrics.batchPhaseSeconds.startTimer({ phase: 'mark' });
    await this.store
      .recordPublished(
        partition,
        toPublish.map(({ record }) => record.value),
        last === undefined ? undefined : { offset: BigInt(last) + 1n, clusterId },
      )
      .finally(marking);
    const recovered = toPublish.filter((p) => p.recovered).length;
    if (recovered > 0) this.metrics.changelogPublished.inc({ kind: 'recovered' }, recovered);
    if (toPublish.length > recovered)
      this.metrics.changelogPublished.inc({ kind: 'new' }, toPublish.length - recovered);
  }

  /** The broker cluster's id, which tags checkpoints so that one from another cluster is never trusted. */
  private kafkaClusterId(): Promise<string> {
    this.clusterId ??= this.admin.clusterId();
    this.clusterId.catch(() => (this.clusterId = undefined));
    return this.clusterId;
  }
}

/** Resolves when p settles, whichever way. */
const settled = (p: Promise<unknown>): Promise<void> =>
  p.then(
    () => undefined,
    () => undefined,
  );

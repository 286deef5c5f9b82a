import { Controller, Inject } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import { Topics, type SchemaCodec, type StateChangeEvent, RecordHeaderNames } from '@vigil/events';
import {
  type KafkaAdminFacade,
  readPartitionRanges,
  type ConsumedRecord,
  type EventProducer,
  type KafkaClient,
} from '@vigil/kafka';
import { KafkaBatchContext } from '@vigil/platform';
import {
  CODEC,
  CONFIG,
  HEALTH,
  KAFKA,
  KAFKA_ADMIN,
  LOGGER,
  PRODUCER,
  type HealthRegistry,
  type Logger,
} from '@vigil/platform';
import type { StateSyncConfig } from './config';
import { StateStore, type ChangelogEntry } from './state-store';
import { STATE_SYNC_METRICS } from './tokens';
import type { StateSyncMetrics } from './state-metrics';

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
 * instance takes a partition over or a batch failed.
 */
@Controller()
export class StateChangesController {
  private generation = -1;
  /** Per partition, the changelog-tail read that must finish before its batches are applied. */
  private readonly recovered = new Map<number, Promise<void>>();
  private batches = 0;
  private clusterId?: Promise<string>;
  private readonly fault?: { at: 'crash-after-apply' | 'crash-after-publish'; batch: number };

  constructor(
    private readonly store: StateStore,
    @Inject(PRODUCER) private readonly producer: EventProducer,
    @Inject(CODEC) private readonly codec: SchemaCodec,
    @Inject(KAFKA) private readonly kafka: KafkaClient,
    @Inject(KAFKA_ADMIN) private readonly admin: KafkaAdminFacade,
    @Inject(HEALTH) private readonly health: HealthRegistry,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(STATE_SYNC_METRICS) private readonly metrics: StateSyncMetrics,
    @Inject(CONFIG) config: StateSyncConfig,
  ) {
    if (config.FAULT_INJECT) {
      const [at, n] = config.FAULT_INJECT.split(':') as ['crash-after-apply' | 'crash-after-publish', string];
      this.fault = { at, batch: Number(n) };
      this.logger.warn({ fault: config.FAULT_INJECT }, 'fault injection armed: this process will SIGKILL itself');
    }
  }

  /** Test-only crash at a precise window: a real SIGKILL, so nothing after it runs. */
  private maybeCrash(at: 'crash-after-apply' | 'crash-after-publish') {
    if (this.fault?.at === at && this.batches >= this.fault.batch) {
      this.logger.warn({ at, batch: this.batches }, 'fault injection: SIGKILL');
      process.kill(process.pid, 'SIGKILL');
    }
  }

  @EventPattern(Topics.stateChanges.name)
  async onStateChanges(@Payload() records: Array<ConsumedRecord<StateChangeEvent>>, @Ctx() ctx: KafkaBatchContext) {
    const { partition, generation, assignment } = ctx.batch;
    const timer = this.metrics.batchSeconds.startTimer();
    try {
      if (generation !== this.generation) {
        this.generation = generation;
        this.recovered.clear();
      }
      await this.ensureRecovered(partition, assignment);
      // Recovery wrote this partition's checkpoint; if it is gone, Redis lost data since (a restart
      // without persistence, a failover): fail the batch, and the retry rebuilds from the changelog.
      if (!(await this.store.hasCheckpoint(partition))) {
        this.metrics.recoveries.inc({ what: 'redis_lost' });
        throw new Error(`Redis lost state-sync's data for partition ${partition}; rebuilding from the changelog`);
      }
      await this.applyAndPublish(records, partition);
    } catch (e) {
      // What this attempt published is unknown now: read the changelog tail again before retrying.
      this.recovered.delete(partition);
      throw e;
    } finally {
      timer();
    }
  }

  private async applyAndPublish(records: Array<ConsumedRecord<StateChangeEvent>>, partition: number) {
    const events = records.map((r) => r.value);
    this.batches += 1;
    const results = await this.store.apply(events);
    const toPublish: Array<{ record: ConsumedRecord<StateChangeEvent>; recovered: boolean }> = [];
    const queued = new Set<string>();
    results.forEach((r, i) => {
      const record = records[i]!;
      const e = record.value;
      this.metrics.events.inc({ outcome: r.outcome });
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
    if (toPublish.length === 0) return;
    this.maybeCrash('crash-after-apply');

    const metadata = await this.producer.send(
      Topics.stateChangelog,
      toPublish.map(({ record }) => ({
        value: record.value,
        partition,
        tombstone: record.value.eventType === 'deleted',
        context: record.context,
        headers: {
          [RecordHeaderNames.version]: String(record.value.version),
          [RecordHeaderNames.eventId]: record.value.eventId,
          [RecordHeaderNames.agentId]: record.value.agentId,
        },
      })),
    );
    this.maybeCrash('crash-after-publish');
    const last = metadata.filter((m) => m.partition === partition && m.lastOffset !== undefined).at(-1)?.lastOffset;
    const clusterId = await this.kafkaClusterId();
    await this.store.recordPublished(
      toPublish.map(({ record }) => record.value),
      last === undefined ? undefined : { partition, offset: BigInt(last) + 1n, clusterId },
    );
    for (const { recovered } of toPublish)
      this.metrics.changelogPublished.inc({ kind: recovered ? 'recovered' : 'new' });
  }

  /** The broker cluster's id, which tags checkpoints so that one from another cluster is never trusted. */
  private kafkaClusterId(): Promise<string> {
    this.clusterId ??= this.admin.clusterId();
    this.clusterId.catch(() => (this.clusterId = undefined));
    return this.clusterId;
  }

  /** Batches of several partitions run at once: the first to need a recovery reads for all of them. */
  private ensureRecovered(partition: number, assignment: number[]): Promise<void> {
    if (!this.recovered.has(partition)) {
      const pending = [...new Set([partition, ...assignment])].filter((p) => !this.recovered.has(p));
      const release = this.health.hold(`restoring changelog partitions ${pending.join(',')}`);
      const reading = this.recover(pending).finally(release);
      for (const p of pending) this.recovered.set(p, reading);
      reading.catch(() => pending.forEach((p) => this.recovered.get(p) === reading && this.recovered.delete(p)));
    }
    return this.recovered.get(partition)!;
  }

  /** Reads each partition's changelog from its checkpoint to its end and moves the markers up. */
  private async recover(partitions: number[]) {
    if (partitions.length === 0) return;
    const ends = await this.admin.highWatermarks(Topics.stateChangelog.name);
    const clusterId = await this.kafkaClusterId();
    const ranges = await Promise.all(
      partitions.map(async (partition) => {
        const to = ends.get(partition) ?? 0n;
        return { partition, from: await this.store.checkpoint(partition, clusterId, to), to };
      }),
    );
    const found: ChangelogEntry[] = [];
    await readPartitionRanges(this.kafka, Topics.stateChangelog.name, ranges, async (_, m) => {
      const version = m.headers?.[RecordHeaderNames.version]?.toString();
      if (!m.key || version === undefined) return;
      const decoded = m.value ? await this.codec.decode(Topics.stateChangelog, m.value) : undefined;
      found.push({
        entityId: m.key.toString(),
        version: Number(version),
        eventId: m.headers?.[RecordHeaderNames.eventId]?.toString() ?? '',
        agentId: m.headers?.[RecordHeaderNames.agentId]?.toString() ?? (decoded?.ok ? decoded.value.agentId : ''),
        event: decoded?.ok ? decoded.value : null,
      });
    });
    const restored = await this.store.restoreFromChangelog(found);
    this.metrics.recoveries.inc({ what: 'restored' }, restored);
    for (const r of ranges) await this.store.setCheckpoint(r.partition, r.to, clusterId);
    this.metrics.recoveries.inc({ what: 'reads' });
    this.metrics.recoveries.inc({ what: 'records' }, found.length);
    this.logger.info(
      { partitions, records: found.length, restored, ranges: ranges.map((r) => `${r.partition}:${r.from}-${r.to}`) },
      'changelog tail read; markers up to date',
    );
  }
}

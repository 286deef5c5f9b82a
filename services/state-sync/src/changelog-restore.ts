import { RecordHeaderNames, Topics, type SchemaCodec } from '@vigil/events';
import { readPartitionRanges, type KafkaAdminFacade, type KafkaClient } from '@vigil/kafka';
import type { HealthRegistry, Logger, RestoreProgress } from '@vigil/platform';
import type { StateSyncMetrics } from './state-metrics';
import type { ChangelogEntry, StateStore } from './state-store';

export interface ChangelogRestoreDeps {
  store: StateStore;
  kafka: KafkaClient;
  codec: SchemaCodec;
  admin: KafkaAdminFacade;
  health: HealthRegistry;
  metrics: StateSyncMetrics;
  logger: Logger;
  clusterId: () => Promise<string>;
  /** Records written to Redis (and the checkpoints moved past them) at a time. */
  sliceRecords?: number;
  /**
   * Settles a partition's changelog before it is read: afterwards no earlier writer can commit to
   * it (see PartitionProducers.fence). Part of the restore, so readiness says "restoring" meanwhile.
   */
  fence?: (partition: number) => Promise<void>;
}

/**
 * Brings Redis in line with the changelog for some partitions: reads each from its checkpoint to
 * its end, restores what Redis lacks, and moves the checkpoint as it goes.
 *
 * Invariant: a partition's checkpoint never passes a record whose effect is not in Redis. So a
 * process killed at any moment leaves a checkpoint the next one resumes from, and a partition
 * whose checkpoint survived is read only from there: a rebuild costs what Redis lost, not the
 * changelog's history. A partition's checkpoint vanishing is how a loss shows (Redis restarted
 * without persistence, a failover to an empty replica); then that partition is read from the start.
 */
export class ChangelogRestore {
  constructor(private readonly deps: ChangelogRestoreDeps) {}

  /** @param owned false once these partitions left this instance: the read stops at its next slice */
  async run(partitions: number[], owned: () => boolean = () => true): Promise<void> {
    const { health } = this.deps;
    if (partitions.length === 0) return;
    // toRead is known once the ends and checkpoints are read; not ready from the start regardless.
    const progress: RestoreProgress = { read: 0, toRead: 0 };
    const done = health.restoring(`changelog partitions ${partitions.join(',')}`, () => ({ ...progress }));
    try {
      const { fence } = this.deps;
      if (fence) await Promise.all(partitions.map((p) => fence(p)));
      await this.read(partitions, progress, owned);
    } finally {
      done();
    }
  }

  private async read(partitions: number[], progress: RestoreProgress, owned: () => boolean): Promise<void> {
    const { store, admin, metrics, logger } = this.deps;
    const ends = await admin.highWatermarks(Topics.stateChangelog.name);
    const clusterId = await this.deps.clusterId();
    const ranges = await Promise.all(
      partitions.map(async (partition) => {
        const to = ends.get(partition) ?? 0n;
        return { partition, from: await store.checkpoint(partition, clusterId, to), to };
      }),
    );
    const toRead = ranges.reduce((n, r) => n + Number(r.to - r.from), 0);
    progress.toRead = toRead;
    let read = 0;
    metrics.restoreRemaining.inc(toRead);
    const startedAt = performance.now();
    const slice: ChangelogEntry[] = [];
    const reached = new Map<number, bigint>();
    let restored = 0;

    const flush = async () => {
      if (!owned())
        throw new Error(`changelog partitions ${partitions.join(',')} moved to another instance; restore stopped`);
      restored += await store.restoreFromChangelog(slice.splice(0));
      for (const [partition, offset] of reached) await store.setCheckpoint(partition, offset, clusterId);
      reached.clear();
    };

    try {
      await readPartitionRanges(
        this.deps.kafka,
        Topics.stateChangelog.name,
        ranges,
        async (partition, m) => {
          read += 1;
          progress.read = read;
          metrics.restoreRecords.inc();
          metrics.restoreRemaining.dec();
          reached.set(partition, BigInt(m.offset) + 1n);
          const entry = await this.entryOf(partition, m);
          if (entry) slice.push(entry);
          if (read % (this.deps.sliceRecords ?? 5000) === 0) {
            await flush();
            logger.info({ partitions, read, toRead }, 'restoring state from the changelog');
          }
        },
        60_000,
      );
      await flush();
      for (const r of ranges) await store.setCheckpoint(r.partition, r.to, clusterId);
    } finally {
      metrics.restoreRemaining.dec(toRead - read);
    }
    const seconds = (performance.now() - startedAt) / 1000;
    metrics.recoveries.inc({ what: 'restored' }, restored);
    metrics.recoveries.inc({ what: 'reads' });
    metrics.recoveries.inc({ what: 'records' }, read);
    logger.info(
      {
        partitions,
        records: read,
        restored,
        seconds: Math.round(seconds * 10) / 10,
        recordsPerSecond: seconds > 0 ? Math.round(read / seconds) : read,
        ranges: ranges.map((r) => `${r.partition}:${r.from}-${r.to}`),
      },
      'changelog read; Redis and markers up to date',
    );
  }

  /** What one changelog record says (a tombstone has no value, only its headers). */
  private async entryOf(
    partition: number,
    m: {
      key: Buffer | null;
      value: Buffer | null;
      headers?: Record<string, unknown>;
    },
  ): Promise<ChangelogEntry | undefined> {
    const header = (name: string) => (m.headers?.[name] as Buffer | undefined)?.toString();
    const version = header(RecordHeaderNames.version);
    if (!m.key || version === undefined) return undefined;
    const decoded = m.value ? await this.deps.codec.decode(Topics.stateChangelog, m.value) : undefined;
    return {
      partition,
      entityId: m.key.toString(),
      version: Number(version),
      eventId: header(RecordHeaderNames.eventId) ?? '',
      agentId: header(RecordHeaderNames.agentId) ?? (decoded?.ok ? decoded.value.agentId : ''),
      event: decoded?.ok ? decoded.value : null,
    };
  }
}

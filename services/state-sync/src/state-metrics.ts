import { zeroed } from '@vigil/platform';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export function createStateSyncMetrics(registry: Registry) {
  const registers = [registry];
  return {
    events: zeroed(
      new Counter({
        name: 'vigil_state_events_total',
        help: 'StateChangeEvents by outcome: applied, duplicate (the current or a not yet published event again), stale (version not newer)',
        labelNames: ['outcome'],
        registers,
      }),
      [{ outcome: 'applied' }, { outcome: 'duplicate' }, { outcome: 'stale' }],
    ),
    changelogPublished: new Counter({
      name: 'vigil_state_changelog_published_total',
      help: 'Records published to the changelog; recovered = re-sent after a crash left them unpublished',
      labelNames: ['kind'],
      registers,
    }),
    recoveries: new Counter({
      name: 'vigil_state_changelog_recoveries_total',
      help: 'Changelog tail reads after an assignment or a failed batch, and the records they found',
      labelNames: ['what'],
      registers,
    }),
    restoreRecords: new Counter({
      name: 'vigil_state_restore_records_total',
      help: 'Changelog records read while restoring Redis (partitions paused meanwhile)',
      registers,
    }),
    restoreRemaining: new Gauge({
      name: 'vigil_state_restore_remaining_records',
      help: 'Changelog records still to read before the partitions being restored resume (0 when none is)',
      registers,
    }),
    batchSeconds: new Histogram({
      name: 'vigil_state_batch_seconds',
      help: 'Time to apply a batch to Redis and publish it to the changelog',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    // Where a batch's time goes, since the next fetch waits for the slowest batch of the last one.
    batchPhaseSeconds: new Histogram({
      name: 'vigil_state_batch_phase_seconds',
      help: "A batch's time by phase: apply (the Lua version gate), publish (the changelog send, acks=all), mark (the published markers)",
      labelNames: ['phase'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
  };
}

export type StateSyncMetrics = ReturnType<typeof createStateSyncMetrics>;

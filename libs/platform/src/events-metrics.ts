import { Counter, type Registry } from 'prom-client';
import type { EventsMetrics } from '@vigil/kafka';

/** The consumer runner's counters, registered on the service's Prometheus registry. */
export function createEventsMetrics(registry: Registry): EventsMetrics {
  const registers = [registry];
  return {
    recordsProcessed: new Counter({
      name: 'vigil_consumer_records_processed_total',
      help: 'Records handed to a handler and committed',
      labelNames: ['topic'],
      registers,
    }),
    deadLetters: new Counter({
      name: 'vigil_consumer_dead_letters_total',
      help: 'Records written to a dead-letter topic, by reason',
      labelNames: ['topic', 'reason'],
      registers,
    }),
    batchFailures: new Counter({
      name: 'vigil_consumer_batch_failures_total',
      help: 'Batch attempts that failed (handler or DLQ write) and will be retried',
      labelNames: ['topic'],
      registers,
    }),
    partitionPauses: new Counter({
      name: 'vigil_consumer_partition_pauses_total',
      help: 'Partitions paused for backpressure after repeated batch failures',
      labelNames: ['topic'],
      registers,
    }),
  };
}

import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { EventsMetrics } from '@vigil/kafka';

/** The consumer runner's and producer's metrics, registered on the service's Prometheus registry. */
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
    consumerLag: new Gauge({
      name: 'vigil_consumer_lag_records',
      help: 'Records between the last committed batch and the end of the partition, per consumer group',
      labelNames: ['topic', 'partition', 'group'],
      registers,
    }),
    batchSeconds: new Histogram({
      name: 'vigil_consumer_batch_seconds',
      help: "Time a batch's handler took (its Redis calls and sends), by outcome",
      labelNames: ['topic', 'outcome'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    sendSeconds: new Histogram({
      name: 'vigil_kafka_send_seconds',
      help: 'Time a produce request took to be acknowledged by all in-sync replicas',
      labelNames: ['topic'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
  };
}

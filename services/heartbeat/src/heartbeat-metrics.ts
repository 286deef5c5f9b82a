import { zeroed } from '@vigil/platform';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export function createHeartbeatMetrics(registry: Registry) {
  return {
    beats: new Counter({
      name: 'vigil_heartbeats_applied_total',
      help: 'Heartbeats applied to the lease table',
      registers: [registry],
    }),
    transitions: zeroed(
      new Counter({
        name: 'vigil_liveness_transitions_total',
        help: 'AgentLivenessChanged events published, by target state',
        labelNames: ['to'] as const,
        registers: [registry],
      }),
      ['starting', 'healthy', 'degraded', 'suspect', 'unreachable', 'deregistered'].map((to) => ({ to })),
    ),
    detectionLatency: new Histogram({
      name: 'vigil_heartbeat_detection_latency_seconds',
      help: 'Unreachable detections, until Kafka acknowledged the event: (broker time of the decision - last heartbeat - interval x missThreshold) + (ack - decision)',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1, 2, 5, 10, 30],
      registers: [registry],
    }),
    staleBeats: new Counter({
      name: 'vigil_heartbeat_stale_beats_total',
      help: 'Heartbeats replayed from a backlog that were already past their threshold at its end: they revived and registered nobody',
      registers: [registry],
    }),
    backlogReplayRate: new Histogram({
      name: 'vigil_heartbeat_backlog_replay_records_per_second',
      help: 'Rate at which a partition replayed a backlog reaching back past the thresholds (after downtime), per replay',
      buckets: [1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000],
      registers: [registry],
    }),
    partitionLag: new Gauge({
      name: 'vigil_heartbeat_partition_lag_records',
      help: 'Records of an owned heartbeat partition not yet applied (its clock stands still while > 0)',
      labelNames: ['partition'] as const,
      registers: [registry],
    }),
    restores: new Counter({
      name: 'vigil_heartbeat_partition_restores_total',
      help: 'Partitions whose leases were restored from Redis (on start, rebalance or takeover)',
      registers: [registry],
    }),
    brokerGaps: new Counter({
      name: 'vigil_heartbeat_broker_gaps_total',
      help: 'Times this instance could not read the high watermarks (failed or hung for 10 s) and held judgement with GAP_GRACE_MS',
      registers: [registry],
    }),
    leaderChanges: new Counter({
      name: 'vigil_heartbeat_leader_changes_total',
      help: 'Owned heartbeat partitions seen changing leader, each then held until caught up with GAP_GRACE_MS',
      registers: [registry],
    }),
    fencedWrites: new Counter({
      name: 'vigil_heartbeat_fenced_writes_total',
      help: 'Writes to a heartbeat partition refused because a newer owner had claimed it (this instance had lost it unawares)',
      registers: [registry],
    }),
    redisLosses: new Counter({
      name: 'vigil_heartbeat_redis_losses_total',
      help: 'Partitions whose lease keys had vanished from Redis and were rewritten in full',
      registers: [registry],
    }),
    persistFailures: new Counter({
      name: 'vigil_heartbeat_persist_failures_total',
      help: 'Failed lease writes or liveness publishes (retried)',
      registers: [registry],
    }),
  };
}

export type HeartbeatMetrics = ReturnType<typeof createHeartbeatMetrics>;
export const HEARTBEAT_METRICS = Symbol('heartbeat.metrics');

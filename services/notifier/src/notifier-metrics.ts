import { zeroed } from '@vigil/platform';
import { Counter, Histogram, type Registry } from 'prom-client';

export const NOTIFIER_METRICS = Symbol('vigil.notifier-metrics');

export function createNotifierMetrics(registry: Registry) {
  return {
    heals: new Counter({
      name: 'vigil_notifier_heals_total',
      help: 'Heal attempts, by action and outcome (issued, succeeded, failed, timed out, not recovered, cancelled)',
      labelNames: ['action', 'outcome'] as const,
      registers: [registry],
    }),
    alerts: zeroed(
      new Counter({
        name: 'vigil_notifier_alerts_total',
        help: 'Alert events published, by status',
        labelNames: ['status'] as const,
        registers: [registry],
      }),
      [{ status: 'firing' }, { status: 'resolved' }],
    ),
    timeToAlert: new Histogram({
      name: 'vigil_notifier_unreachable_to_alert_seconds',
      help: 'From the event that opened an incident to its alert firing (heals included)',
      buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600],
      registers: [registry],
    }),
    conflicts: new Counter({
      name: 'vigil_notifier_write_conflicts_total',
      help: 'Incident writes redone because another writer changed the incident in between',
      registers: [registry],
    }),
    republished: new Counter({
      name: 'vigil_notifier_outbox_republished_total',
      help: 'Outbox entries published by a sweep (left behind by a writer that stopped before publishing)',
      registers: [registry],
    }),
  };
}

export type NotifierMetrics = ReturnType<typeof createNotifierMetrics>;

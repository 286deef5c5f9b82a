import type { AlertEvent } from '@vigil/events';

/** One alert as Alertmanager's webhook (version 4) carries it. */
export interface WebhookAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}

/** Alertmanager's webhook body, version 4: receivers written for Alertmanager read it unchanged. */
export interface WebhookPayload {
  version: '4';
  groupKey: string;
  truncatedAlerts: number;
  status: 'firing' | 'resolved';
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  alerts: WebhookAlert[];
}

/** An alert as Alertmanager's API v2 takes it (`POST /api/v2/alerts`). */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
}

/** Alertmanager's "zero" time: a firing alert has no end yet. */
const NO_END = '0001-01-01T00:00:00Z';

export const annotationsOf = (alert: AlertEvent) => ({ summary: alert.summary, severity: alert.severity });

const generatorUrl = (alert: AlertEvent, externalUrl: string) =>
  externalUrl ? `${externalUrl}/alerts?fingerprint=${alert.fingerprint}` : '';

/** The labels (or annotations) every one of them has with the same value. */
function common(maps: Array<Record<string, string>>): Record<string, string> {
  if (maps.length === 0) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(maps[0]!)) if (maps.every((m) => m[k] === v)) out[k] = v;
  return out;
}

/** A group's notification for a webhook receiver: its firing alerts, then the resolved ones. */
export function webhookPayload(
  group: { id: string; receiver: string; groupLabels: Record<string, string> },
  alerts: AlertEvent[],
  externalUrl: string,
): WebhookPayload {
  return {
    version: '4',
    groupKey: group.id,
    truncatedAlerts: 0,
    status: alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved',
    receiver: group.receiver,
    groupLabels: group.groupLabels,
    commonLabels: common(alerts.map((a) => a.labels)),
    commonAnnotations: common(alerts.map(annotationsOf)),
    externalURL: externalUrl,
    alerts: alerts.map((a) => ({
      status: a.status,
      labels: a.labels,
      annotations: annotationsOf(a),
      startsAt: new Date(a.startsAt).toISOString(),
      endsAt: a.endsAt === null ? NO_END : new Date(a.endsAt).toISOString(),
      generatorURL: generatorUrl(a, externalUrl),
      fingerprint: a.fingerprint,
    })),
  };
}

/**
 * The group's alerts for Alertmanager's API v2. A firing alert ends `holdMs` from now unless pushed
 * again (as Prometheus does): if the notifier stops, Alertmanager resolves it by itself.
 */
export function alertmanagerPayload(
  alerts: AlertEvent[],
  externalUrl: string,
  now: number,
  holdMs: number,
): PostableAlert[] {
  return alerts.map((a) => ({
    labels: a.labels,
    annotations: annotationsOf(a),
    startsAt: new Date(a.startsAt).toISOString(),
    endsAt: new Date(a.endsAt ?? now + holdMs).toISOString(),
    generatorURL: generatorUrl(a, externalUrl),
  }));
}

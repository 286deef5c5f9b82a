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

/** Alertmanager's "zero" time: a firing alert has no end yet. */
const NO_END = '0001-01-01T00:00:00Z';

export function webhookPayload(alert: AlertEvent, receiver: string, externalUrl: string): WebhookPayload {
  const annotations = { summary: alert.summary, severity: alert.severity };
  return {
    version: '4',
    groupKey: alert.groupKey,
    truncatedAlerts: 0,
    status: alert.status,
    receiver,
    groupLabels: { alertname: alert.alertName },
    commonLabels: alert.labels,
    commonAnnotations: annotations,
    externalURL: externalUrl,
    alerts: [
      {
        status: alert.status,
        labels: alert.labels,
        annotations,
        startsAt: new Date(alert.startsAt).toISOString(),
        endsAt: alert.endsAt === null ? NO_END : new Date(alert.endsAt).toISOString(),
        generatorURL: externalUrl ? `${externalUrl}/alerts?agent=${encodeURIComponent(alert.agentId ?? '')}` : '',
        fingerprint: alert.fingerprint,
      },
    ],
  };
}

/** One notification of one alert state to one receiver: the same however often it is sent. */
export const idempotencyKey = (alert: AlertEvent, receiver: string) =>
  `${alert.fingerprint}/${alert.status}@${alert.endsAt ?? alert.startsAt}/${receiver}`;

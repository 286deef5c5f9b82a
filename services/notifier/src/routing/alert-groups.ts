import type { AlertEvent } from '@vigil/events';
import type { Route } from './route-tree';

/** A group's bookkeeping: which route and receiver it is for, what was last notified and when. */
export interface GroupMeta {
  /** The group key (route, receiver, group labels): also the notification's `groupKey`. */
  id: string;
  routeId: string;
  receiver: string;
  groupLabels: Record<string, string>;
  createdAt: number;
  /** Bumped by every flush: a flush only lands on the sequence it read (two owners during a rebalance). */
  seq: number;
  /** When the last notification went out (0: never). */
  notifiedAt: number;
  /** Fingerprints notified as firing by the last notification. */
  notified: string[];
}

export const newGroupMeta = (
  id: string,
  route: Route,
  receiver: string,
  groupLabels: Record<string, string>,
  now: number,
): GroupMeta => ({ id, routeId: route.id, receiver, groupLabels, createdAt: now, seq: 0, notifiedAt: 0, notified: [] });

export type ReceiverKind = 'webhook' | 'alertmanager';

export interface Flush {
  /** What to notify, if anything: the group's unmuted firing alerts and the resolutions of notified ones. */
  send?: { firing: AlertEvent[]; resolved: AlertEvent[]; reason: 'first' | 'changed' | 'repeat' | 'push' };
  meta: GroupMeta;
  /** Resolved alerts leave the group once a flush has seen them (notified or not). */
  remove: AlertEvent[];
  /** The next flush, group_interval on (the group ends when nothing is left in it). */
  nextAt: number;
}

/**
 * One tick of a group, as Alertmanager's aggregation group and dedup stage do it: the first tick
 * comes group_wait after the group opened, then one every group_interval. A tick notifies when the
 * set of firing alerts differs from what was last notified or a notified alert resolved; otherwise
 * it re-sends the same firing alerts once repeat_interval has passed since the last notification.
 * Muted alerts (silenced or inhibited) are left out: they stay in the group, visible, and are
 * notified when the mute ends. A resolution is only sent for an alert that was notified firing.
 * An `alertmanager` receiver gets every tick's alerts (it needs them re-sent to keep them firing).
 */
export function flushGroup(
  meta: GroupMeta,
  alerts: AlertEvent[],
  muted: ReadonlySet<string>,
  route: Pick<Route, 'groupIntervalMs' | 'repeatIntervalMs'>,
  kind: ReceiverKind,
  now: number,
): Flush {
  const notified = new Set(meta.notified);
  const active = alerts.filter((a) => !muted.has(a.fingerprint));
  const firing = active.filter((a) => a.status === 'firing').sort(byFingerprint);
  const resolved = active.filter((a) => a.status === 'resolved' && notified.has(a.fingerprint)).sort(byFingerprint);
  const firingNow = new Set(firing.map((a) => a.fingerprint));
  const changed =
    firingNow.size !== notified.size || [...firingNow].some((f) => !notified.has(f)) || resolved.length > 0;
  const repeat = meta.notifiedAt > 0 && now - meta.notifiedAt >= route.repeatIntervalMs;
  const anything = firing.length > 0 || resolved.length > 0;
  let reason: NonNullable<Flush['send']>['reason'] | undefined;
  if (!anything) reason = undefined;
  else if (kind === 'alertmanager') reason = 'push';
  else if (changed) reason = meta.notifiedAt === 0 ? 'first' : 'changed';
  else if (repeat) reason = 'repeat';
  return {
    send: reason ? { firing, resolved, reason } : undefined,
    meta: {
      ...meta,
      seq: meta.seq + 1,
      notified: [...firingNow],
      notifiedAt: reason ? now : meta.notifiedAt,
    },
    remove: alerts.filter((a) => a.status === 'resolved'),
    nextAt: now + route.groupIntervalMs,
  };
}

const byFingerprint = (a: AlertEvent, b: AlertEvent) =>
  a.fingerprint < b.fingerprint ? -1 : a.fingerprint > b.fingerprint ? 1 : 0;

/** Which of two states of one alert is newer: a later start, or the resolution of the same start. */
export function isNewer(incoming: AlertEvent, current: AlertEvent | undefined): boolean {
  if (!current) return true;
  if (incoming.startsAt !== current.startsAt) return incoming.startsAt > current.startsAt;
  return incoming.status === 'resolved' && current.status === 'firing';
}

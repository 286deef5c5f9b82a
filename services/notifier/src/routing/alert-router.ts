import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Topics, type AlertEvent } from '@vigil/events';
import { groupBy, partitionOfKey, traceparentOf, type ConsumedRecord, type GroupListener } from '@vigil/kafka';
import { CONFIG, LOGGER, MEMBERSHIP, METRICS, type GroupMembership, type Logger } from '@vigil/platform';
import { Counter, type Registry } from 'prom-client';
import type { NotifierConfig } from '../config';
import type { PendingDelivery } from '../delivery/delivery-store';
import { alertmanagerPayload, webhookPayload } from '../delivery/alertmanager-payload';
import { WebhookDelivery } from '../delivery/webhook-delivery';
import { NOTIFIER_POLICY } from '../notifier-policy.provider';
import type { NotifierPolicy } from '../policy';
import { flushGroup, newGroupMeta, type ReceiverKind } from './alert-groups';
import { GroupStore, type LoadedGroup } from './group-store';
import { compileInhibitRules, sourceSlots, targetSlots, type InhibitRule } from './inhibition';
import { compileRoutes, groupKeyOf, groupLabelsOf, routesFor, type Route } from './route-tree';
import { SilenceStore } from './silence-store';
import { silencedBy, type Silence } from './silences';

/** Group shards are the partitions of vigil.alerts: their owner flushes the shard's groups. */
const SHARDS = Topics.alerts.partitions;
const FLUSH_BATCH = 200;
/** Silences are read at most this often per instance (a new silence mutes within it). */
const SILENCES_TTL_MS = 500;
/** An alert pushed to Alertmanager stays firing there this many group intervals unless pushed again. */
const ALERTMANAGER_HOLD_INTERVALS = 4;

/** Why an alert notifies nobody now: the silences and the firing source alerts muting it. */
export interface MuteState {
  silencedBy: string[];
  inhibitedBy: string[];
}

/**
 * Alertmanager's model on Vigil's state: every alert read from vigil.alerts goes down the routing
 * tree into one group per matching route and receiver (grouped by the route's labels), kept in
 * Redis on the shard of the group's key. The owner of a shard flushes its groups when due
 * (group_wait, then every group_interval): each flush decides, from the group's alerts minus the
 * muted ones, whether to notify (see flushGroup) and queues the notification for WebhookDelivery in
 * the same script that records it, so a crash either sends it once or not at all before the
 * successor flushes again. Inhibition and silences are checked at flush time, as Alertmanager does:
 * a HostDown that fires during group_wait still mutes its agents' alerts.
 */
@Injectable()
export class AlertRouter implements GroupListener, OnModuleInit, OnApplicationShutdown {
  private readonly root: Route;
  private readonly routes = new Map<string, Route>();
  private readonly rules: InhibitRule[];
  private readonly kinds: Map<string, ReceiverKind>;
  private owned = new Set<number>();
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;
  private stopped = false;
  private silenceCache?: { at: number; silences: Promise<Silence[]> };
  private readonly wakes = new Set<NodeJS.Timeout>();
  /** A flush was asked for while one ran: run another right after. */
  private flushAgain = false;
  private readonly flushes: Counter<'reason'>;

  constructor(
    private readonly groups: GroupStore,
    private readonly silences: SilenceStore,
    private readonly delivery: WebhookDelivery,
    @Inject(NOTIFIER_POLICY) private readonly policy: NotifierPolicy,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(MEMBERSHIP) private readonly membership: GroupMembership,
    @Inject(CONFIG) private readonly config: NotifierConfig,
    @Inject(METRICS) registry: Registry,
  ) {
    this.root = compileRoutes(
      policy.route,
      policy.receivers.map((r) => r.name),
    );
    const index = (r: Route) => {
      this.routes.set(r.id, r);
      r.routes.forEach(index);
    };
    index(this.root);
    this.rules = compileInhibitRules(policy.inhibit_rules);
    this.kinds = new Map(policy.receivers.map((r) => [r.name, r.kind]));
    this.flushes = new Counter({
      name: 'vigil_notifier_group_notifications_total',
      help: 'Group notifications queued, by why (first, changed, repeat, push: an alertmanager receiver gets every tick)',
      labelNames: ['reason'] as const,
      registers: [registry],
    });
  }

  onModuleInit(): void {
    this.membership.subscribe(this);
    this.timer = setInterval(() => void this.flushDue(), this.config.SWEEP_INTERVAL_MS);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    for (const t of this.wakes) clearTimeout(t);
    await this.flushing;
  }

  rebalancing(): void {
    this.owned = new Set();
  }

  joined(assignment: Record<string, number[]>): void {
    this.owned = new Set(assignment[Topics.alerts.name] ?? []);
  }

  /** Puts each alert into its groups and the indexes; resolves once all of it is in Redis. */
  async onAlerts(records: Array<ConsumedRecord<AlertEvent>>): Promise<void> {
    if (records.length === 0) return;
    const now = Date.now();
    // One alert's states in order (a record's groups may live on any shard); different alerts side by side.
    const byFingerprint = groupBy(records, (r) => r.value.fingerprint);
    await Promise.all(
      [...byFingerprint.values()].map(async (states) => {
        for (const r of states) await this.ingest(r.value, now, traceparentOf(r.context));
      }),
    );
  }

  private async ingest(alert: AlertEvent, now: number, traceparent?: string): Promise<void> {
    await this.groups.indexAlert(alert, sourceSlots(this.rules, alert));
    const writes: Array<Promise<void>> = [];
    for (const route of routesFor(this.root, alert.labels)) {
      const groupLabels = groupLabelsOf(route, alert.labels);
      for (const receiver of route.receivers) {
        const id = groupKeyOf(route, receiver, groupLabels);
        const meta = newGroupMeta(id, route, receiver, groupLabels, now);
        const shard = partitionOfKey(id, SHARDS);
        const firstAt = now + route.groupWaitMs;
        writes.push(
          this.groups.ingest(shard, meta, alert, firstAt, traceparent).then((outcome) => {
            if (outcome === 'opened') this.wakeAt(shard, firstAt);
          }),
        );
      }
    }
    await Promise.all(writes);
  }

  /**
   * Flushes when a group this instance opened is due, not up to a tick later (group_wait is what
   * users tune); the periodic flush stays the safety net, for groups another instance opened.
   */
  private wakeAt(shard: number, at: number): void {
    if (!this.owned.has(shard) || this.stopped) return;
    const timer = setTimeout(
      () => {
        this.wakes.delete(timer);
        void this.flushDue();
      },
      Math.max(0, at - Date.now()),
    );
    this.wakes.add(timer);
  }

  /** What mutes each of these alerts now (silences, then inhibition by other firing alerts). */
  async mutes(alerts: AlertEvent[], now: number): Promise<Map<string, MuteState>> {
    const silences = await this.activeSilences(now);
    const slotsOf = new Map(alerts.map((a) => [a.fingerprint, targetSlots(this.rules, a)]));
    const sources = await this.groups.inhibitSources([...slotsOf.values()].flat());
    return new Map(
      alerts.map((a) => {
        const inhibitedBy = new Set<string>();
        for (const slot of slotsOf.get(a.fingerprint)!)
          for (const f of sources.get(slot) ?? []) if (f !== a.fingerprint) inhibitedBy.add(f);
        return [a.fingerprint, { silencedBy: silencedBy(silences, a.labels, now), inhibitedBy: [...inhibitedBy] }];
      }),
    );
  }

  /** A silence was set or expired: the next flush reads them again. */
  silencesChanged(): void {
    this.silenceCache = undefined;
  }

  private activeSilences(now: number): Promise<Silence[]> {
    if (!this.silenceCache || now - this.silenceCache.at > SILENCES_TTL_MS) {
      const silences = this.silences.all(now);
      silences.catch(() => (this.silenceCache = undefined));
      this.silenceCache = { at: now, silences };
    }
    return this.silenceCache.silences;
  }

  private flushDue(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.flushing) {
      this.flushAgain = true;
      return this.flushing;
    }
    this.flushAgain = false;
    this.flushing = (async () => {
      try {
        for (const shard of this.owned) {
          const now = Date.now();
          const due = await this.groups.dueGroups(shard, now, FLUSH_BATCH);
          if (due.length === FLUSH_BATCH) this.flushAgain = true; // more are due: no need to wait for the tick
          const loaded = await this.groups.load(shard, due);
          await Promise.all(loaded.map((g) => this.flush(shard, g, now)));
        }
      } catch (e) {
        this.logger.warn({ err: (e as Error).message }, 'group flush failed; retried on the next tick');
      } finally {
        this.flushing = undefined;
      }
      if (this.flushAgain) setImmediate(() => void this.flushDue());
    })();
    return this.flushing;
  }

  private async flush(shard: number, g: LoadedGroup, now: number): Promise<void> {
    const route = this.routes.get(g.meta.routeId) ?? this.root;
    const kind = this.kinds.get(g.meta.receiver) ?? 'webhook';
    const mutes = await this.mutes(g.alerts, now);
    const muted = new Set([...mutes].filter(([, m]) => m.silencedBy.length + m.inhibitedBy.length > 0).map(([f]) => f));
    const f = flushGroup(g.meta, g.alerts, muted, route, kind, now);
    let delivery: PendingDelivery | undefined;
    if (f.send) {
      const alerts = [...f.send.firing, ...f.send.resolved];
      const traces = new Map(g.alerts.flatMap((a) => (a.traceparent ? [[a.fingerprint, [a.traceparent]]] : [])));
      const externalUrl = this.policy.delivery.externalUrl;
      delivery = {
        id: `${g.meta.id}@${f.meta.seq}/${g.meta.receiver}`,
        receiver: g.meta.receiver,
        groupKey: g.meta.id,
        status: f.send.firing.length > 0 ? 'firing' : 'resolved',
        fingerprints: alerts.map((a) => a.fingerprint),
        traceparents: alerts.flatMap((a) => traces.get(a.fingerprint) ?? []),
        body:
          kind === 'alertmanager'
            ? alertmanagerPayload(alerts, externalUrl, now, ALERTMANAGER_HOLD_INTERVALS * route.groupIntervalMs)
            : webhookPayload(g.meta, alerts, externalUrl),
        shard,
        attempts: 0,
        queuedAt: now,
      };
    }
    if (!(await this.groups.commit(shard, g, f.meta, f.nextAt, f.remove, delivery, now))) return;
    if (!f.send || !delivery) return;
    this.flushes.inc({ reason: f.send.reason });
    this.logger.info(
      {
        group: g.meta.id,
        receiver: g.meta.receiver,
        reason: f.send.reason,
        firing: f.send.firing.length,
        resolved: f.send.resolved.length,
        muted: muted.size,
      },
      'group notification queued',
    );
    this.delivery.kick(); // due now: no need to wait for the delivery's tick
  }
}

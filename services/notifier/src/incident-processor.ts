import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import {
  RecordHeaderNames,
  Topics,
  type AgentLivenessChanged,
  type AgentRegistration,
  type BackupVerified,
  type HealResult,
  type StateChangeEvent,
} from '@vigil/events';
import {
  extractTraceContext,
  groupBy,
  traceparentOf,
  partitionOfKey,
  type ConsumedRecord,
  type EventProducer,
  type GroupListener,
} from '@vigil/kafka';
import {
  CONFIG,
  HEALTH,
  LOGGER,
  MEMBERSHIP,
  METRICS,
  PRODUCER,
  type GroupMembership,
  type HealthRegistry,
  type Logger,
} from '@vigil/platform';
import { Gauge, type Registry } from 'prom-client';
import type { NotifierConfig } from './config';
import { backupKey, decideBackup } from './backup-rules';
import { forEachLimited } from './for-each-limited';
import { decideHostDown, hostKey, type HostCounts } from './host-down';
import { IncidentRules, type Incident, type Step } from './incident';
import { IncidentStore, outboxEntries, type OutboxEntry } from './incident-store';
import { NOTIFIER_METRICS, type NotifierMetrics } from './notifier-metrics';
import { NOTIFIER_POLICY } from './notifier-policy.provider';
import type { NotifierPolicy } from './policy';
import { ruleKey, StateRules } from './state-rules';

/** Liveness and heal results are both keyed by agent id over this many partitions: a shard is one. */
export const SHARDS = Topics.liveness.partitions;
const MAX_WRITE_ATTEMPTS = 20;
const shardOf = (key: string) => partitionOfKey(key, SHARDS);
/** A host's sets and its HostDown incident live on the shard of its incident key. */
const hostShardOf = (host: string) => shardOf(hostKey(host));

/** One decision to take: on which incident, and how. */
interface Work {
  shard: number;
  key: string;
  decide: Decide;
  /** The key is an agent id whose registration the decision may use (alert labels). */
  agent?: boolean;
  /** The key is this host's: the decision reads the host's counts. */
  host?: string;
  /** The trace of the record that asked for the decision. */
  traceparent?: string;
}

/** The W3C traceparent of a consumed record's span (what the records published because of it continue). */
const traceparentOfRecord = (r: ConsumedRecord<unknown>): string | undefined => traceparentOf(r.context);

type Decide = (i: Incident, now: number, who?: AgentRegistration, counts?: HostCounts) => Step;

const SWEEP_BATCH = 500;
/** Incidents of one shard decided at once (each a read and a script in Redis). */
const STEPS_IN_FLIGHT = 32;

/**
 * Applies liveness events, heal results and due timers to incidents, and publishes what they
 * decide. Per shard, work runs batch after batch in this instance, one incident's decisions in order
 * and different incidents' side by side; within an instance and across instances (heal results may
 * be consumed by another member than the shard's liveness partition) an incident write only lands
 * on the revision it read, so no decision is taken on a stale record.
 *
 * Order of a step: read, decide, write the incident with its due time and its outbox entries in one
 * script, then publish, then trim the outbox. Offsets are committed after the batch's steps, so a
 * crash anywhere redoes the batch: steps already written are no-ops the second time (an older
 * liveness event, a result for a command no longer in flight), and what they left in the outbox is
 * published by the shard's sweep. Timers live in Redis only: the owner of a shard's liveness
 * partition sweeps them, whoever that is after a restart or rebalance.
 */
@Injectable()
export class IncidentProcessor implements GroupListener, OnModuleInit, OnApplicationShutdown {
  private readonly rules: IncidentRules;
  private readonly stateRules: StateRules;
  private readonly queues = new Map<number, Promise<void>>();
  private owned = new Set<number>();
  private timer?: NodeJS.Timeout;
  private sweeping = false;
  private stopped = false;
  /** The next precise sweep of each owned shard (its earliest due time this instance wrote). */
  private readonly wakes = new Map<number, { at: number; timer: NodeJS.Timeout }>();
  /** Ready once this instance knows its shards: before that it sweeps nothing. */
  private readonly unassigned: () => void;

  constructor(
    private readonly store: IncidentStore,
    @Inject(NOTIFIER_POLICY) private readonly policy: NotifierPolicy,
    @Inject(PRODUCER) private readonly producer: EventProducer,
    @Inject(NOTIFIER_METRICS) private readonly metrics: NotifierMetrics,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(MEMBERSHIP) private readonly membership: GroupMembership,
    @Inject(CONFIG) private readonly config: NotifierConfig,
    @Inject(HEALTH) health: HealthRegistry,
    @Inject(METRICS) registry: Registry,
  ) {
    this.rules = new IncidentRules(policy);
    this.stateRules = new StateRules(policy.stateRules);
    this.unassigned = health.hold('waiting for the first partition assignment');
    const owned = () => this.owned.size;
    const firing = async () => (await store.all(SHARDS)).filter((i) => i.phase === 'alerting').length;
    new Gauge({
      name: 'vigil_notifier_alerts_firing',
      help: 'Alerts firing now (incidents in the alerting phase, all shards, read from Redis at scrape time)',
      registers: [registry],
      async collect() {
        this.set(await firing().catch(() => NaN));
      },
    });
    new Gauge({
      name: 'vigil_notifier_shards_owned',
      help: 'Liveness partitions (shards of incidents and timers) this instance owns',
      registers: [registry],
      collect() {
        this.set(owned());
      },
    });
  }

  onModuleInit(): void {
    this.membership.subscribe(this);
    this.timer = setInterval(() => void this.sweep(), this.config.SWEEP_INTERVAL_MS);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    for (const w of this.wakes.values()) clearTimeout(w.timer);
    await Promise.allSettled(this.queues.values());
  }

  rebalancing(): void {
    this.owned = new Set();
  }

  joined(assignment: Record<string, number[]>): void {
    this.owned = new Set(assignment[Topics.liveness.name] ?? []);
    this.unassigned();
    this.logger.info({ shards: [...this.owned].sort((a, b) => a - b) }, 'notifier shards assigned');
  }

  async onLiveness(records: Array<ConsumedRecord<AgentLivenessChanged>>): Promise<void> {
    // Hosts' counts first: the HostDown decisions below read them.
    const onHosts = records.filter((r) => r.value.host);
    await this.store.markHosts(
      onHosts.map((r) => ({
        host: r.value.host!,
        agentId: r.value.agentId,
        since: r.value.since,
        unreachable: r.value.to === 'unreachable',
      })),
      hostShardOf,
    );
    await this.run(this.agentWork(records, (r, i, now, who) => this.rules.onLiveness(i, r, now, who)));
    // Hosts after their agents: when a host comes back, its agents' resolutions are published
    // before HostDown's, so no group flush sees them firing and no longer inhibited.
    const hosts = new Map(onHosts.map((r) => [r.value.host!, traceparentOfRecord(r)]));
    await this.run([...hosts].map(([host, traceparent]) => this.hostWork(host, traceparent)));
  }

  /** Decides a host's HostDown on its counts as they are when the decision is taken. */
  private hostWork(host: string, traceparent?: string): Work {
    return {
      shard: hostShardOf(host),
      key: hostKey(host),
      host,
      traceparent,
      decide: (i: Incident, now: number, _who?: AgentRegistration, counts?: HostCounts) =>
        decideHostDown(i, host, counts!, this.policy.hostDown, now),
    };
  }

  onHealResults(records: Array<ConsumedRecord<HealResult>>): Promise<void> {
    return this.run(this.agentWork(records, (r, i, now, who) => this.rules.onHealResult(i, r, now, who)));
  }

  /**
   * The backup orchestrator's verdicts: BackupFailed per agent and policy, and the first heal of an
   * incident that was waiting for its pre-heal backup.
   */
  onBackupVerdicts(records: Array<ConsumedRecord<BackupVerified>>): Promise<void> {
    return this.run([
      ...records.map((r) => ({
        shard: shardOf(r.value.agentId),
        key: backupKey(r.value.agentId, r.value.policyId),
        traceparent: traceparentOfRecord(r),
        decide: (i: Incident, now: number) => decideBackup(i, r.value, this.policy.alerts.severity.backup, now),
      })),
      ...(this.policy.heal.preHealBackup
        ? this.agentWork(
            records.filter((r) => r.value.jobId.includes('@pre_heal-')),
            (v, i, now) => this.rules.onBackupVerdict(i, v, now),
          )
        : []),
    ]);
  }

  /** One decision per record on its agent's incident, with the agent's registration at hand. */
  private agentWork<T extends { agentId: string }>(
    records: Array<ConsumedRecord<T>>,
    decide: (record: T, i: Incident, now: number, who?: AgentRegistration) => Step,
  ): Work[] {
    return records.map((r) => ({
      shard: shardOf(r.value.agentId),
      key: r.value.agentId,
      agent: true,
      traceparent: traceparentOfRecord(r),
      decide: (i: Incident, now: number, who?: AgentRegistration) => decide(r.value, i, now, who),
    }));
  }

  /** The agent registry (compacted; a tombstone is null): who each agent is, kept per shard in Redis. */
  async onRegistrations(records: Array<ConsumedRecord<AgentRegistration | null>>): Promise<void> {
    const byShard = groupBy(
      records.map((r) => ({ agentId: r.key, registration: r.value })),
      (r) => shardOf(r.agentId),
    );
    const moves = (await Promise.all([...byShard].map(([shard, regs]) => this.store.putAgents(shard, regs)))).flat();
    await this.store.moveHostMembers(moves, hostShardOf);
    // A host that lost or gained agents may cross the HostDown share without any liveness change.
    const hosts = new Set(moves.flatMap((m) => [m.from, m.to]).filter((h): h is string => !!h));
    await this.run([...hosts].map((h) => this.hostWork(h)));
  }

  /**
   * Accepted state changes (the changelog) against the state rules of their entity type. A deletion
   * is a tombstone (no value; its headers name the version): every rule's alert about it resolves.
   */
  onStateChanges(records: Array<ConsumedRecord<StateChangeEvent | null>>): Promise<void> {
    return this.run(
      records.flatMap((r) => {
        const { value, key, headers } = r;
        const traceparent = traceparentOfRecord(r);
        if (value === null) {
          const version = Number(headers[RecordHeaderNames.version]?.toString() ?? NaN);
          if (!Number.isFinite(version)) return [];
          return this.stateRules.all().map((rule) => ({
            shard: shardOf(key),
            key: ruleKey(rule, key),
            traceparent,
            decide: (i: Incident, now: number) => this.stateRules.onDeleted(i, version, now),
          }));
        }
        return this.stateRules.forType(value.entityType).map((rule) => ({
          shard: shardOf(value.entityId),
          key: ruleKey(rule, value.entityId),
          traceparent,
          decide: (i: Incident, now: number) => this.stateRules.onChange(i, rule, value, now),
        }));
      }),
    );
  }

  /**
   * Takes decisions in order, each on its shard (from the key, not the record's partition: a
   * producer in another language may place keys differently), and publishes what they decided.
   */
  private async run(work: Work[]): Promise<void> {
    const byShard = groupBy(work, (w) => w.shard);
    await Promise.all(
      [...byShard].map(([shard, mine]) =>
        this.onShard(shard, async () => {
          // One incident's decisions in order; different incidents side by side (their writes are
          // revision-checked, and a burst of 500 deaths should not cost 500 round trips in a row).
          const byKey = groupBy(mine, (w) => w.key);
          const out: Array<{ raw: string; entry: OutboxEntry }> = [];
          await forEachLimited([...byKey.values()], STEPS_IN_FLIGHT, async (sequence) => {
            for (const w of sequence)
              out.push(...(await this.step(shard, w.key, w.decide, w.agent === true, w.traceparent, w.host)));
          });
          await this.publish(shard, out);
        }),
      ),
    );
  }

  /** Due retries and timeouts of the shards this instance owns, and outbox entries left behind. */
  private async sweep(): Promise<void> {
    if (this.sweeping || this.stopped) return;
    this.sweeping = true;
    try {
      await Promise.all([...this.owned].map((shard) => this.sweepShard(shard, true)));
    } catch (e) {
      this.logger.warn({ err: (e as Error).message }, 'sweep failed; retried on the next one');
    } finally {
      this.sweeping = false;
    }
  }

  private sweepShard(shard: number, withOutbox: boolean): Promise<void> {
    return this.onShard(shard, async () => {
      const now = Date.now();
      const out: Array<{ raw: string; entry: OutboxEntry }> = [];
      await forEachLimited(await this.store.due(shard, now, SWEEP_BATCH), STEPS_IN_FLIGHT, async (key) => {
        // Only agent incidents have timers (state rules never do).
        out.push(...(await this.step(shard, key, (i, at, who) => this.rules.onDue(i, at, who), true)));
      });
      await this.publish(shard, out);
      if (!withOutbox) return;
      const left = (await this.store.outbox(shard)).filter(
        (o) => now - o.entry.at > this.config.OUTBOX_REPUBLISH_AFTER_MS,
      );
      if (left.length > 0) {
        this.logger.warn({ shard, entries: left.length }, 'publishing outbox entries a stopped writer left');
        this.metrics.republished.inc(left.length);
        await this.publish(shard, left);
      }
    });
  }

  /**
   * Sweeps an owned shard when a due time this instance just wrote comes (not up to a tick later):
   * the periodic sweep stays the safety net, for timers written by another instance.
   */
  private wakeAt(shard: number, at: number): void {
    if (!this.owned.has(shard) || this.stopped) return;
    const current = this.wakes.get(shard);
    if (current && current.at <= at) return;
    if (current) clearTimeout(current.timer);
    const timer = setTimeout(
      () => {
        this.wakes.delete(shard);
        if (this.owned.has(shard)) this.sweepShard(shard, false).catch(() => undefined);
      },
      Math.max(0, at - Date.now()),
    );
    this.wakes.set(shard, { at, timer });
  }

  /** Runs `work` after everything queued on the shard; its failure is the caller's, not the queue's. */
  private onShard(shard: number, work: () => Promise<void>): Promise<void> {
    const run = (this.queues.get(shard) ?? Promise.resolve()).then(work);
    this.queues.set(
      shard,
      run.catch(() => undefined),
    );
    return run;
  }

  /** One decision on one incident, written with its outbox entries; returns the entries to publish. */
  private async step(
    shard: number,
    key: string,
    decide: Decide,
    agent = false,
    traceparent?: string,
    host?: string,
  ): Promise<Array<{ raw: string; entry: OutboxEntry }>> {
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
      let read: Incident;
      let who: AgentRegistration | undefined;
      let counts: HostCounts | undefined;
      if (agent) ({ incident: read, who } = await this.store.loadWithAgent(shard, key));
      else if (host !== undefined) ({ incident: read, counts } = await this.store.loadWithHost(shard, key, host));
      else read = await this.store.load(shard, key);
      const now = Date.now();
      let s = decide(read, now, who, counts);
      if (s.noop) return [];
      // What a record decides continues that record's trace (a heal result's alert is its child);
      // what a timer decides (a heal timed out, the next attempt) continues the trace of the event
      // that opened the incident, so one trace runs from the agent to the alert.
      if (read.phase === 'closed' && s.incident.phase !== 'closed')
        s = { ...s, incident: { ...s.incident, traceparent } };
      const tp = traceparent ?? s.incident.traceparent;
      const entries = outboxEntries(s.heals, s.alerts, now, tp, s.backups).map((entry) => ({
        raw: JSON.stringify(entry),
        entry,
      }));
      if (
        await this.store.write(
          shard,
          read,
          s.incident,
          entries.map((e) => e.raw),
        )
      ) {
        this.observe(read, s);
        if (s.incident.dueAt !== undefined) this.wakeAt(shard, s.incident.dueAt);
        return entries;
      }
      this.metrics.conflicts.inc();
    }
    throw new Error(`incident ${key} kept changing under ${MAX_WRITE_ATTEMPTS} writes; batch redone`);
  }

  private observe(before: Incident, s: Step): void {
    const i = s.incident;
    for (const a of i.attempts) {
      const was = before.openedBy === i.openedBy ? before.attempts.find((b) => b.commandId === a.commandId) : undefined;
      if (!was) this.metrics.heals.inc({ action: a.action, outcome: 'issued' });
      if (a.outcome && a.outcome !== was?.outcome) this.metrics.heals.inc({ action: a.action, outcome: a.outcome });
    }
    for (const h of s.heals) {
      this.logger.info(
        { agentId: h.agentId, attempt: h.attempt, action: h.action, commandId: h.commandId },
        'heal issued',
      );
    }
    for (const b of s.backups ?? []) {
      this.logger.info(
        { agentId: b.agentId, policyId: b.policyId, requestId: b.requestId },
        'pre-heal backup requested',
      );
    }
    for (const a of s.alerts) {
      this.logger.info(
        { agentId: a.agentId, fingerprint: a.fingerprint, status: a.status, summary: a.summary },
        'alert',
      );
    }
    if (s.escalatedAfterMs !== undefined) this.metrics.timeToAlert.observe(s.escalatedAfterMs / 1000);
  }

  /** Publishes entries (heals and alerts, in their order) and trims them from the outbox. */
  private async publish(shard: number, out: Array<{ raw: string; entry: OutboxEntry }>): Promise<void> {
    if (out.length === 0) return;
    const context = (e: OutboxEntry) =>
      e.traceparent ? extractTraceContext({ traceparent: e.traceparent }) : undefined;
    const heals = out.flatMap((o) =>
      o.entry.kind === 'heal' ? [{ value: o.entry.value, context: context(o.entry) }] : [],
    );
    const alerts = out.flatMap((o) =>
      o.entry.kind === 'alert' ? [{ value: o.entry.value, context: context(o.entry) }] : [],
    );
    const backups = out.flatMap((o) =>
      o.entry.kind === 'backup' ? [{ value: o.entry.value, context: context(o.entry) }] : [],
    );
    await Promise.all([
      heals.length > 0 ? this.producer.send(Topics.healCommands, heals) : undefined,
      alerts.length > 0 ? this.producer.send(Topics.alerts, alerts) : undefined,
      backups.length > 0 ? this.producer.send(Topics.backupRequests, backups) : undefined,
    ]);
    for (const a of alerts) this.metrics.alerts.inc({ status: a.value.status });
    await this.store.published(
      shard,
      out.map((o) => o.raw),
    );
  }
}

import type { AgentLivenessChanged, Heartbeat, LivenessState } from '@vigil/events';
import { MinHeap } from './min-heap';
import { PartitionClock } from './partition-clock';

/** What Vigil keeps per agent; also what is written to Redis so a new owner can restore it. */
export interface Lease {
  agentId: string;
  partition: number;
  state: LivenessState;
  /** Broker time since which the state holds. */
  since: number;
  /** LogAppendTime of the last heartbeat. */
  lastBeatAt: number;
  registeredAt: number;
  intervalMs: number;
  missThreshold: number;
  startPeriodMs: number;
  host: string;
  agentVersion: string;
  bootId: string;
  priorityTier: number;
  dependencies: string[];
  labels: Record<string, string>;
  metrics: Record<string, number>;
  failedChecks: string[];
  /** W3C traceparent of the last heartbeat: a liveness event continues the trace that caused it. */
  traceparent?: string;
}

/**
 * Silence after which an agent is suspect: one beat missed, with half an interval of tolerance,
 * because beats that are sent every interval arrive with jitter (timers, batching, GC) and a
 * silence of 1,001 ms at a 1 s interval is not news.
 */
function suspectAfter(l: Lease): number {
  return Math.floor(l.intervalMs * 1.5);
}

/** What changed in a partition since it was last persisted. */
export interface PartitionChanges {
  upserts: Lease[];
  removed: string[];
}

interface PartitionState {
  clock: PartitionClock;
  deadlines: MinHeap<Deadline>;
  dirty: Set<string>;
  removed: Set<string>;
}

interface Deadline {
  at: number;
  agentId: string;
  /** Lazy deletion: a deadline is stale when the lease has moved on since it was scheduled. */
  beat: number;
}

/**
 * Leases of one instance, grouped by partition, each partition judged on its own broker-time clock
 * with one heap of deadlines (not a timer per agent). State machine:
 *   starting -> healthy -> suspect (a beat missed: 1.5 intervals) -> unreachable (missThreshold intervals)
 *   any -> healthy on a fresh ok heartbeat (recovered); degraded when the agent reports failed checks;
 *   deregistered on a clean `stopping` heartbeat (not a failure).
 * A starting agent is not judged before its start period ends.
 */
export class LeaseTable {
  private readonly leases = new Map<string, Lease>();
  private readonly partitions = new Map<number, PartitionState>();

  constructor(private readonly monotonicMs?: () => number) {}

  get size(): number {
    return this.leases.size;
  }

  get(agentId: string): Lease | undefined {
    return this.leases.get(agentId);
  }

  all(): Lease[] {
    return [...this.leases.values()];
  }

  owned(): number[] {
    return [...this.partitions.keys()];
  }

  /** Leases that changed (or went) since the last call: what must be written to Redis. */
  takeChanges(partition: number): PartitionChanges {
    const p = this.partitions.get(partition);
    if (!p) return { upserts: [], removed: [] };
    const upserts: Lease[] = [];
    for (const id of p.dirty) {
      const l = this.leases.get(id);
      if (l) upserts.push({ ...l });
    }
    const removed = [...p.removed];
    p.dirty.clear();
    p.removed.clear();
    return { upserts, removed };
  }

  clock(partition: number): PartitionClock {
    return this.partitionOf(partition).clock;
  }

  /** Applies one heartbeat, stamped by the broker; returns the transition it causes, if any. */
  beat(
    hb: Heartbeat,
    partition: number,
    logAppendTimeMs: number,
    traceparent?: string,
  ): AgentLivenessChanged | undefined {
    const p = this.partitionOf(partition);
    p.clock.observe(logAppendTimeMs);
    const existing = this.leases.get(hb.agentId);
    if (existing && logAppendTimeMs < existing.lastBeatAt) return undefined; // older than what we know
    const lease: Lease = existing ?? {
      agentId: hb.agentId,
      partition,
      state: 'unknown',
      since: logAppendTimeMs,
      lastBeatAt: logAppendTimeMs,
      registeredAt: logAppendTimeMs,
      intervalMs: hb.intervalMs,
      missThreshold: hb.missThreshold,
      startPeriodMs: hb.startPeriodMs,
      host: hb.host,
      agentVersion: hb.agentVersion,
      bootId: hb.bootId,
      priorityTier: hb.priorityTier,
      dependencies: [],
      labels: {},
      metrics: {},
      failedChecks: [],
    };
    Object.assign(lease, {
      partition,
      lastBeatAt: logAppendTimeMs,
      intervalMs: hb.intervalMs,
      missThreshold: hb.missThreshold,
      startPeriodMs: hb.startPeriodMs,
      host: hb.host,
      agentVersion: hb.agentVersion,
      priorityTier: hb.priorityTier,
      dependencies: [...hb.dependencies],
      labels: { ...hb.labels },
      metrics: { ...hb.metrics },
      failedChecks: hb.checks.filter((c) => !c.ok).map((c) => c.name),
      traceparent,
    });
    if (hb.bootId !== lease.bootId) {
      lease.bootId = hb.bootId;
      lease.registeredAt = logAppendTimeMs; // a restarted agent gets its start period again
    }
    this.leases.set(hb.agentId, lease);
    p.dirty.add(lease.agentId);
    p.removed.delete(lease.agentId);

    let next: LivenessState;
    let reason: string;
    if (hb.status === 'stopping') {
      next = 'deregistered';
      reason = 'clean shutdown';
    } else if (hb.status === 'starting') {
      next =
        lease.state === 'unknown' || lease.state === 'starting' || lease.state === 'deregistered'
          ? 'starting'
          : 'healthy';
      reason = next === 'starting' ? 'registered, starting' : 'heartbeat received';
    } else if (hb.status === 'degraded' || lease.failedChecks.length > 0) {
      next = 'degraded';
      reason = `failed checks: ${lease.failedChecks.join(', ') || 'reported degraded'}`;
    } else {
      next = 'healthy';
      reason = lease.state === 'suspect' || lease.state === 'unreachable' ? 'recovered' : 'heartbeat received';
    }
    if (next === 'deregistered') {
      const change = this.transition(lease, next, logAppendTimeMs, reason);
      this.leases.delete(hb.agentId);
      p.dirty.delete(hb.agentId);
      p.removed.add(hb.agentId);
      return change;
    }
    p.deadlines.push({ at: this.nextDeadline(lease), agentId: lease.agentId, beat: logAppendTimeMs });
    return lease.state === next ? undefined : this.transition(lease, next, logAppendTimeMs, reason);
  }

  /** Restores a lease (from Redis, after a rebalance): timing continues from its last heartbeat. */
  restore(lease: Lease): void {
    this.leases.set(lease.agentId, { ...lease });
    this.partitionOf(lease.partition).deadlines.push({
      at: this.nextDeadline(lease),
      agentId: lease.agentId,
      beat: lease.lastBeatAt,
    });
  }

  /** Marks changes as not yet persisted again (their write failed). */
  markDirty(partition: number, changes: PartitionChanges): void {
    const p = this.partitions.get(partition);
    if (!p) return;
    for (const l of changes.upserts) if (!p.removed.has(l.agentId)) p.dirty.add(l.agentId);
    for (const id of changes.removed) if (!this.leases.has(id)) p.removed.add(id);
  }

  /** Takes a partition on, its clock resuming from the broker time its previous owner had reached. */
  adoptPartition(partition: number, clockMs: number): void {
    this.partitionOf(partition).clock.resumeFrom(clockMs);
  }

  /** Forgets a partition's leases (it moved to another instance). */
  dropPartition(partition: number): void {
    for (const [id, l] of this.leases) if (l.partition === partition) this.leases.delete(id);
    this.partitions.delete(partition);
  }

  /** Judges a partition at its own clock: the transitions whose deadlines have passed. */
  judge(partition: number): AgentLivenessChanged[] {
    const p = this.partitions.get(partition);
    if (!p || !p.clock.started) return [];
    const now = p.clock.now();
    const out: AgentLivenessChanged[] = [];
    for (let top = p.deadlines.peek(); top && top.at <= now; top = p.deadlines.peek()) {
      p.deadlines.pop();
      const lease = this.leases.get(top.agentId);
      if (!lease || lease.partition !== partition || lease.lastBeatAt !== top.beat) continue; // stale entry
      const silentFor = now - lease.lastBeatAt;
      const missed = Math.floor(silentFor / lease.intervalMs);
      let next: LivenessState | undefined;
      if (lease.state === 'starting' && now < lease.registeredAt + lease.startPeriodMs) next = undefined;
      else if (silentFor > lease.intervalMs * lease.missThreshold) next = 'unreachable';
      else if (silentFor > suspectAfter(lease) && lease.state !== 'starting') next = 'suspect';
      if (next && next !== lease.state && !(lease.state === 'unreachable' && next === 'suspect')) {
        p.dirty.add(lease.agentId);
        out.push(
          this.transition(
            lease,
            next,
            now,
            `no heartbeat for ${silentFor} ms (${missed} intervals of ${lease.intervalMs} ms)`,
          ),
        );
      }
      if (lease.state !== 'unreachable')
        p.deadlines.push({ at: this.nextDeadline(lease), agentId: lease.agentId, beat: lease.lastBeatAt });
    }
    return out;
  }

  /** When the lease must next be looked at, in its partition's broker time. */
  private nextDeadline(l: Lease): number {
    const unreachableAt = l.lastBeatAt + l.intervalMs * l.missThreshold + 1;
    const startEnds = l.registeredAt + l.startPeriodMs;
    if (l.state === 'starting' && startEnds > l.lastBeatAt)
      return Math.max(startEnds, l.lastBeatAt + suspectAfter(l) + 1);
    if (l.state === 'suspect') return unreachableAt;
    return Math.min(unreachableAt, l.lastBeatAt + suspectAfter(l) + 1);
  }

  private transition(l: Lease, to: LivenessState, at: number, reason: string): AgentLivenessChanged {
    const change: AgentLivenessChanged = {
      agentId: l.agentId,
      from: l.state,
      to,
      since: at,
      lastHeartbeatAt: l.lastBeatAt,
      reason,
      host: l.host,
    };
    l.state = to;
    l.since = at;
    return change;
  }

  private partitionOf(partition: number): PartitionState {
    let p = this.partitions.get(partition);
    if (!p) {
      p = {
        clock: new PartitionClock(this.monotonicMs),
        deadlines: new MinHeap<Deadline>((a, b) => a.at < b.at),
        dirty: new Set(),
        removed: new Set(),
      };
      this.partitions.set(partition, p);
    }
    return p;
  }
}

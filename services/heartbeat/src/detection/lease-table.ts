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
  /** Agents whose registration (who they are, not how they are) is new or changed: a subset of upserts. */
  registered: string[];
}

interface PartitionState {
  clock: PartitionClock;
  /**
   * Judgement is held (after a takeover, or after this instance lost the broker) until the
   * partition is caught up; then `amnestyAt` is set to that moment's clock.
   */
  holding: boolean;
  /** Local monotonic time the hold began: only a confirmation asked for after it ends the hold. */
  heldSinceMono: number;
  /** Extra broker time agents get, once the hold ends, to be heard again (clients reconnect with backoff). */
  graceMs: number;
  /**
   * Silence before this broker time does not count: when timing resumes after a gap (the broker was
   * away, the partition changed hands), agents get a full interval budget from that moment, since
   * they could not be heard either. Their real last heartbeat is still what events report.
   */
  amnestyAt: number;
  /**
   * `amnestyAt` was set when the hold ended, on a clock that may stand far behind the broker: caught
   * up with nothing appended since an outage, it still shows the last record before it (or a snapshot
   * taken then) plus local time since. The first record after the hold shows by how much: the
   * amnesty moves with that jump, once, or every agent not yet reconnected would look silent for the
   * whole outage. On a clock that was current the jump is the time since its last confirmation.
   */
  amnestyUnanchored: boolean;
  deadlines: MinHeap<Deadline>;
  dirty: Set<string>;
  removed: Set<string>;
  registered: Set<string>;
}

/**
 * A lease's place in its partition's heap. A lease has at most one live node: a heartbeat only
 * moves the deadline later, so the node stays where it is and, when it comes up, is pushed back
 * to the lease's real deadline (the same node object: a heartbeat allocates nothing here).
 */
interface Deadline {
  at: number;
  lease: Lease;
}

const NO_CHECKS_FAILED: string[] = [];

/**
 * The `at` of a lease's live heap node (a node whose `at` differs is superseded). A symbol key, so
 * JSON (what goes to Redis) leaves it out; on the lease itself, so 100k leases need no side table.
 */
const QUEUED_AT = Symbol('queuedAt');
type Scheduled = Lease & { [QUEUED_AT]?: number };

/**
 * Values many agents share (host names, versions, label sets, dependency lists) kept once: with
 * 100k leases, a copy per agent of "1.4.2" and {"team":"payments"} is tens of megabytes.
 */
class Interner {
  private readonly strings = new Map<string, string>();
  private readonly lists = new Map<string, string[]>();
  private readonly records = new Map<string, Record<string, string>>();

  string(s: string): string {
    const known = this.strings.get(s);
    if (known !== undefined) return known;
    if (this.strings.size < 100_000) this.strings.set(s, s);
    return s;
  }

  list(l: string[]): string[] {
    if (l.length === 0) return NO_CHECKS_FAILED;
    const key = l.join('\u0000');
    const known = this.lists.get(key);
    if (known) return known;
    const frozen = Object.freeze(l.map((x) => this.string(x))) as string[];
    if (this.lists.size < 10_000) this.lists.set(key, frozen);
    return frozen;
  }

  record(r: Record<string, string>): Record<string, string> {
    const key = JSON.stringify(r);
    const known = this.records.get(key);
    if (known) return known;
    const frozen = Object.freeze({ ...r });
    if (this.records.size < 10_000) this.records.set(key, frozen);
    return frozen;
  }
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
  private readonly interned = new Interner();
  private readonly partitions = new Map<number, PartitionState>();

  /**
   * @param monotonicMs local monotonic clock (tests drive it)
   * @param options.forgetUnreachableAfterMs an agent unreachable this long (broker time) is dropped,
   *   with a `deregistered` transition, so that fleets that churn (a new agent id per container)
   *   do not grow the table and Redis forever; 0 keeps them.
   */
  constructor(
    private readonly monotonicMs?: () => number,
    private readonly options: { forgetUnreachableAfterMs?: number } = {},
  ) {}

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
    if (!p) return { upserts: [], removed: [], registered: [] };
    const upserts: Lease[] = [];
    for (const id of p.dirty) {
      const l = this.leases.get(id);
      if (l) upserts.push(l); // serialised at once by the caller, so no copy
    }
    const removed = [...p.removed];
    const registered = [...p.registered].filter((id) => this.leases.has(id));
    p.dirty.clear();
    p.removed.clear();
    p.registered.clear();
    return { upserts, removed, registered };
  }

  /** Heap nodes of a partition: at most one live node per lease, however often agents beat. */
  scheduled(partition: number): number {
    return this.partitions.get(partition)?.deadlines.size ?? 0;
  }

  clock(partition: number): PartitionClock {
    return this.partitionOf(partition).clock;
  }

  /**
   * Applies one heartbeat, stamped by the broker; returns the transition it causes, if any.
   *
   * `stale`: the beat is replayed from a backlog and was already past its agent's threshold at the
   * partition's end when the replay began (the agent was silent for longer since). It proves the
   * agent was alive then, not now: it moves the lease's last beat on (so the death is timed from it)
   * but changes no state, and an agent never seen before is not registered at all: a fleet that
   * stopped long ago must not come back as a storm of healthy-then-unreachable transitions.
   */
  beat(
    hb: Heartbeat,
    partition: number,
    logAppendTimeMs: number,
    traceparent?: string,
    stale = false,
  ): AgentLivenessChanged | undefined {
    const p = this.partitionOf(partition);
    this.observe(p, logAppendTimeMs);
    const existing = this.leases.get(hb.agentId);
    if (existing && logAppendTimeMs < existing.lastBeatAt) return undefined; // older than what we know
    if (stale && !existing) return undefined;
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
      host: this.interned.string(hb.host),
      agentVersion: this.interned.string(hb.agentVersion),
      bootId: hb.bootId,
      priorityTier: hb.priorityTier,
      dependencies: this.interned.list(hb.dependencies),
      labels: this.interned.record(hb.labels),
      metrics: hb.metrics,
      failedChecks: NO_CHECKS_FAILED,
    };
    // 100k leases live long; what a heartbeat brings lives for a moment. Updating in place, and
    // keeping the old value where nothing changed, leaves the new one to die young instead of
    // turning every beat's worth of old-generation objects into garbage.
    // Who the agent is, as opposed to how it is: a change is published to the agent registry.
    const reregistered =
      !existing ||
      lease.intervalMs !== hb.intervalMs ||
      lease.missThreshold !== hb.missThreshold ||
      lease.startPeriodMs !== hb.startPeriodMs ||
      lease.priorityTier !== hb.priorityTier ||
      lease.host !== hb.host ||
      lease.agentVersion !== hb.agentVersion ||
      lease.bootId !== hb.bootId ||
      !sameList(lease.dependencies, hb.dependencies) ||
      !sameRecord(lease.labels, hb.labels);
    lease.partition = partition;
    lease.lastBeatAt = logAppendTimeMs;
    lease.intervalMs = hb.intervalMs;
    lease.missThreshold = hb.missThreshold;
    lease.startPeriodMs = hb.startPeriodMs;
    lease.priorityTier = hb.priorityTier;
    if (lease.host !== hb.host) lease.host = this.interned.string(hb.host);
    if (lease.agentVersion !== hb.agentVersion) lease.agentVersion = this.interned.string(hb.agentVersion);
    if (!sameList(lease.dependencies, hb.dependencies)) lease.dependencies = this.interned.list(hb.dependencies);
    if (!sameRecord(lease.labels, hb.labels)) lease.labels = this.interned.record(hb.labels);
    if (!copyValues(lease.metrics, hb.metrics)) lease.metrics = hb.metrics;
    const failed = failedChecks(hb);
    if (!sameList(lease.failedChecks, failed)) lease.failedChecks = this.interned.list(failed);
    lease.traceparent = traceparent;
    if (hb.bootId !== lease.bootId) {
      lease.bootId = hb.bootId;
      lease.registeredAt = logAppendTimeMs; // a restarted agent gets its start period again
    }
    this.leases.set(hb.agentId, lease);
    p.dirty.add(lease.agentId);
    p.removed.delete(lease.agentId);
    if (reregistered && hb.status !== 'stopping') p.registered.add(lease.agentId);

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
    if (next === 'deregistered') return this.deregister(p, lease, logAppendTimeMs, reason);
    if (stale) next = lease.state;
    const change = lease.state === next ? undefined : this.transition(lease, next, logAppendTimeMs, reason);
    this.schedule(p, lease);
    return change;
  }

  /** Restores a lease (from Redis, after a rebalance): timing continues from its last heartbeat. */
  restore(lease: Lease): void {
    const copy: Lease = {
      ...lease,
      host: this.interned.string(lease.host),
      agentVersion: this.interned.string(lease.agentVersion),
      dependencies: this.interned.list(lease.dependencies ?? []),
      labels: this.interned.record(lease.labels ?? {}),
      failedChecks: this.interned.list(lease.failedChecks ?? []),
    };
    (copy as Scheduled)[QUEUED_AT] = undefined; // the other table's heap position means nothing here
    this.leases.set(lease.agentId, copy);
    this.schedule(this.partitionOf(lease.partition), copy);
  }

  private deregister(p: PartitionState, lease: Lease, at: number, reason: string): AgentLivenessChanged {
    const change = this.transition(lease, 'deregistered', at, reason);
    this.leases.delete(lease.agentId);
    p.dirty.delete(lease.agentId);
    p.removed.add(lease.agentId);
    return change;
  }

  private get forgetAfterMs(): number {
    return this.options.forgetUnreachableAfterMs ?? 0;
  }

  /** Makes sure the lease's heap node comes up no later than its deadline. */
  private schedule(p: PartitionState, lease: Lease, node?: Deadline, notBefore = 0): void {
    let due: number;
    if (lease.state === 'unreachable') {
      // Nothing more to find out until it beats again, but when it is to be forgotten.
      if (this.forgetAfterMs <= 0) return;
      due = lease.since + this.forgetAfterMs;
    } else {
      due = this.nextDeadline(lease);
    }
    const at = Math.max(due, notBefore);
    const queued = (lease as Scheduled)[QUEUED_AT];
    if (queued !== undefined && queued <= at) return; // its node comes up in time and is moved on then
    (lease as Scheduled)[QUEUED_AT] = at;
    if (node) node.at = at;
    p.deadlines.push(node ?? { at, lease });
  }

  /** Every lease of a partition, as changes to write (after Redis lost them). */
  everything(partition: number): PartitionChanges {
    const upserts: Lease[] = [];
    for (const l of this.leases.values()) if (l.partition === partition) upserts.push(l);
    return { upserts, removed: [], registered: [] };
  }

  /** Marks changes as not yet persisted again (their write failed). */
  markDirty(partition: number, changes: PartitionChanges): void {
    const p = this.partitions.get(partition);
    if (!p) return;
    for (const l of changes.upserts) if (!p.removed.has(l.agentId)) p.dirty.add(l.agentId);
    for (const id of changes.removed) if (!this.leases.has(id)) p.removed.add(id);
    for (const id of changes.registered) if (this.leases.has(id)) p.registered.add(id);
  }

  /**
   * Takes a partition on, its clock resuming from the broker time its previous owner had reached.
   * It does not hold judgement by itself: records come in broker-time order, so judging while a
   * backlog is replayed is sound unless the backlog spans a broker outage. The service therefore
   * calls `hold` after every takeover until such outages inside a backlog are recognised.
   */
  adoptPartition(partition: number, clockMs: number): void {
    this.partitionOf(partition).clock.resumeFrom(clockMs);
  }

  private observe(p: PartitionState, logAppendTimeMs: number): void {
    if (!p.amnestyUnanchored) return p.clock.observe(logAppendTimeMs);
    const before = p.clock.now();
    p.clock.observe(logAppendTimeMs);
    p.amnestyUnanchored = false;
    if (p.amnestyAt > before) p.amnestyAt += Math.max(0, p.clock.now() - before);
  }

  private startHold(p: PartitionState, graceMs: number): void {
    p.holding = true;
    p.amnestyUnanchored = false;
    p.heldSinceMono = (this.monotonicMs ?? (() => performance.now()))();
    p.graceMs = Math.max(p.graceMs, graceMs);
  }

  /**
   * Holds judgement of a partition until `caughtUp` (e.g. this instance could not reach the broker);
   * then agents get `graceMs` more to be heard before their silence counts.
   */
  hold(partition: number, graceMs = 0): void {
    const p = this.partitions.get(partition);
    if (p) this.startHold(p, graceMs);
  }

  /**
   * Everything appended before `requestedAtMono` is applied: the clock may move up to it, and a held
   * partition resumes judgement with its agents' silence counted from now on.
   */
  caughtUp(partition: number, requestedAtMono: number): void {
    const p = this.partitions.get(partition);
    if (!p) return;
    p.clock.confirmCaughtUp(requestedAtMono);
    // A confirmation asked for before the hold began (a request that hung through an outage) says
    // nothing about the agents since: wait for a fresh one, whose clock includes the whole gap.
    if (p.holding && p.clock.started && requestedAtMono > p.heldSinceMono) {
      p.holding = false;
      p.amnestyAt = p.clock.now() + p.graceMs;
      p.amnestyUnanchored = true;
      p.graceMs = 0;
    }
  }

  holding(partition: number): boolean {
    return this.partitions.get(partition)?.holding ?? false;
  }

  /** Forgets a partition's leases (it moved to another instance). */
  dropPartition(partition: number): void {
    for (const [id, l] of this.leases) if (l.partition === partition) this.leases.delete(id);
    this.partitions.delete(partition);
  }

  /** Judges a partition at its own clock: the transitions whose deadlines have passed. */
  judge(partition: number): AgentLivenessChanged[] {
    const p = this.partitions.get(partition);
    if (!p || !p.clock.started || p.holding) return [];
    const now = p.clock.now();
    const out: AgentLivenessChanged[] = [];
    for (let top = p.deadlines.peek(); top && top.at <= now; top = p.deadlines.peek()) {
      p.deadlines.pop();
      const lease = top.lease;
      // Superseded (an earlier node replaced it), or the lease is gone (deregistered, dropped).
      if ((lease as Scheduled)[QUEUED_AT] !== top.at || this.leases.get(lease.agentId) !== lease) continue;
      (lease as Scheduled)[QUEUED_AT] = undefined;
      if (lease.state === 'unreachable') {
        if (this.forgetAfterMs > 0 && now >= lease.since + this.forgetAfterMs) {
          const silentFor = now - lease.lastBeatAt;
          out.push(this.deregister(p, lease, now, `forgotten: no heartbeat for ${silentFor} ms`));
        } else {
          this.schedule(p, lease, top);
        }
        continue;
      }
      if (this.nextDeadline(lease, p) > now) {
        this.schedule(p, lease, top); // heartbeats came since it was queued: not due yet
        continue;
      }
      const silentFor = now - lease.lastBeatAt;
      const counted = now - Math.max(lease.lastBeatAt, p.amnestyAt);
      const missed = Math.floor(silentFor / lease.intervalMs);
      let next: LivenessState | undefined;
      if (lease.state === 'starting' && now < lease.registeredAt + lease.startPeriodMs) next = undefined;
      else if (counted > lease.intervalMs * lease.missThreshold) next = 'unreachable';
      else if (counted > suspectAfter(lease)) next = 'suspect';
      const changes = next !== undefined && next !== lease.state;
      if (changes && next) {
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
      // A judgement always moves the lease on; should its deadline still be due, look again one
      // interval later rather than spin.
      this.schedule(p, lease, top, changes ? undefined : now + lease.intervalMs);
    }
    return out;
  }

  /** When the lease must next be looked at, in its partition's broker time. */
  private nextDeadline(l: Lease, p = this.partitions.get(l.partition)): number {
    const last = Math.max(l.lastBeatAt, p?.amnestyAt ?? 0);
    const unreachableAt = last + l.intervalMs * l.missThreshold + 1;
    const startEnds = l.registeredAt + l.startPeriodMs;
    if (l.state === 'starting' && startEnds > last) return Math.max(startEnds, last + suspectAfter(l) + 1);
    if (l.state === 'suspect') return unreachableAt;
    return Math.min(unreachableAt, last + suspectAfter(l) + 1);
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
      eventId: livenessEventId(l.agentId, l.state, to, at),
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
        holding: false,
        heldSinceMono: 0,
        graceMs: 0,
        amnestyAt: 0,
        amnestyUnanchored: false,
        deadlines: new MinHeap<Deadline>((a, b) => a.at < b.at),
        dirty: new Set(),
        removed: new Set(),
        registered: new Set(),
      };
      this.partitions.set(partition, p);
    }
    return p;
  }
}

/**
 * A transition's id, derived from what it is rather than drawn at random: the same transition
 * recomputed after a crash (the same records replayed onto the same restored leases) gets the
 * same id as the one the crashed process may already have published.
 */
export function livenessEventId(agentId: string, from: LivenessState, to: LivenessState, since: number): string {
  return `${agentId}/${from}>${to}@${since}`;
}

function failedChecks(hb: Heartbeat): string[] {
  let out: string[] | undefined;
  for (const c of hb.checks) if (!c.ok) (out ??= []).push(c.name);
  return out ?? NO_CHECKS_FAILED;
}

function sameList(a: string[], b: string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameRecord(a: Record<string, string>, b: Record<string, string>): boolean {
  const keys = Object.keys(b);
  if (Object.keys(a).length !== keys.length) return false;
  for (const k of keys) if (a[k] !== b[k]) return false;
  return true;
}

/** Copies b's values into a when both have the same keys; false (nothing copied) otherwise. */
function copyValues(a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = Object.keys(b);
  if (Object.keys(a).length !== keys.length) return false;
  for (const k of keys) if (!(k in a)) return false;
  for (const k of keys) a[k] = b[k]!;
  return true;
}

import type { RestoreArchive } from '@vigil/events';

/** What the planner needs to know of an agent: from the registry and the kept backups. */
export interface PlanAgent {
  agentId: string;
  /** 0 restores first. */
  tier: number;
  /** Agents this one needs running before it can be restored (from its registration). */
  dependencies: string[];
  /** The newest verified chain (full first), or null when the agent has none. */
  chain: RestoreArchive[] | null;
  /** How often the agent heartbeats: a healthy heartbeat is awaited after each restore. */
  heartbeatIntervalMs: number;
}

export interface PlanSettings {
  /** RTO per tier (index = tier); tiers past the end use the last. */
  rtoMs: number[];
  /** Restore throughput, measured by bench/restore-throughput. */
  bytesPerSecond: number;
  /** Steps restoring at once. */
  parallelism: number;
  /** Fixed cost per step (command delivery, verification, the swap). */
  stepOverheadMs: number;
}

export type StepStatus = 'pending' | 'restoring' | 'awaiting_health' | 'done' | 'failed' | 'skipped';

export interface PlanStep {
  agentId: string;
  tier: number;
  /** Dependencies within this plan: the step starts when these are done (restored and healthy). */
  after: string[];
  chain: RestoreArchive[] | null;
  bytes: number;
  estimateMs: number;
  /** Estimated start and finish, from the plan's start, with the parallelism bound. */
  startsAtMs: number;
  finishesAtMs: number;
  rtoMs: number;
  missesRto: boolean;
  status: StepStatus;
  attempt: number;
  /** When the current attempt started (its timeout runs from here). */
  startedAt: number | null;
  /** When its command was last sent. */
  sentAt: number | null;
  ackedAt: number | null;
  restoredAt: number | null;
  healthyAt: number | null;
  finishedAt: number | null;
  error: string | null;
  restoredBytes: number | null;
  durationMs: number | null;
}

export type Planned =
  | { ok: true; steps: PlanStep[]; warnings: string[]; problems: string[]; estimateMs: number }
  | { ok: false; cycle: string[] };

/**
 * A dependency cycle among `ids` (as a path that returns to its start), found by depth-first search
 * over what Kahn's algorithm could not order.
 */
function findCycle(ids: string[], deps: Map<string, string[]>): string[] {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string): string[] | undefined => {
    state.set(id, 'open');
    stack.push(id);
    for (const d of deps.get(id) ?? []) {
      if (state.get(d) === 'open') return [...stack.slice(stack.indexOf(d)), d];
      if (!state.has(d)) {
        const found = visit(d);
        if (found) return found;
      }
    }
    stack.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const id of [...ids].sort()) {
    if (state.has(id)) continue;
    const found = visit(id);
    if (found) return found;
  }
  return ids;
}

/**
 * Orders a restore: an agent's dependencies (those in the plan) before it, and among the agents
 * whose dependencies are done, the lower tier first (then the agent id, so a plan is reproducible).
 * A dependency cycle is refused with the cycle named. Each step's time is estimated from its bytes
 * and the measured throughput plus one heartbeat interval (the health gate) and a fixed overhead;
 * the schedule respects the parallelism bound, and a step whose estimated finish is past its
 * tier's RTO is marked. Dependencies outside the plan are assumed up (a warning says so); an agent
 * without a verified backup is a problem that stops the plan from running.
 */
export function planRestore(agents: PlanAgent[], s: PlanSettings): Planned {
  const byId = new Map(agents.map((a) => [a.agentId, a]));
  const warnings: string[] = [];
  const after = new Map<string, string[]>();
  for (const a of agents) {
    const inside = [...new Set(a.dependencies)].filter((d) => byId.has(d));
    for (const d of a.dependencies.filter((d) => !byId.has(d)))
      warnings.push(`${a.agentId} depends on ${d}, which is not in this plan: assumed up`);
    after.set(a.agentId, inside);
  }

  const remaining = new Map(agents.map((a) => [a.agentId, after.get(a.agentId)!.length]));
  const dependents = new Map<string, string[]>();
  for (const [id, ds] of after) for (const d of ds) dependents.set(d, [...(dependents.get(d) ?? []), id]);
  const rank = (x: PlanAgent, y: PlanAgent) => x.tier - y.tier || (x.agentId < y.agentId ? -1 : 1);
  const ready = agents.filter((a) => remaining.get(a.agentId) === 0);
  const order: PlanAgent[] = [];
  while (ready.length > 0) {
    ready.sort(rank);
    const next = ready.shift()!;
    order.push(next);
    for (const d of dependents.get(next.agentId) ?? []) {
      remaining.set(d, remaining.get(d)! - 1);
      if (remaining.get(d) === 0) ready.push(byId.get(d)!);
    }
  }
  if (order.length < agents.length) {
    const stuck = agents.filter((a) => !order.includes(a)).map((a) => a.agentId);
    return { ok: false, cycle: findCycle(stuck, after) };
  }

  // List scheduling in plan order: a step starts once its dependencies finished and a slot is free.
  const slots = Array.from({ length: Math.max(1, s.parallelism) }, () => 0);
  const finish = new Map<string, number>();
  const problems: string[] = [];
  const steps = order.map((a): PlanStep => {
    const bytes = (a.chain ?? []).reduce((n, c) => n + c.sizeBytes, 0);
    if (!a.chain) problems.push(`${a.agentId} has no verified backup to restore`);
    const estimateMs = Math.ceil((bytes / s.bytesPerSecond) * 1000) + a.heartbeatIntervalMs + s.stepOverheadMs;
    const slot = slots.indexOf(Math.min(...slots));
    const startsAtMs = Math.max(slots[slot]!, ...after.get(a.agentId)!.map((d) => finish.get(d)!));
    const finishesAtMs = startsAtMs + estimateMs;
    slots[slot] = finishesAtMs;
    finish.set(a.agentId, finishesAtMs);
    const rtoMs = s.rtoMs[Math.min(a.tier, s.rtoMs.length - 1)]!;
    return {
      agentId: a.agentId,
      tier: a.tier,
      after: after.get(a.agentId)!,
      chain: a.chain,
      bytes,
      estimateMs,
      startsAtMs,
      finishesAtMs,
      rtoMs,
      missesRto: finishesAtMs > rtoMs,
      status: 'pending',
      attempt: 0,
      startedAt: null,
      sentAt: null,
      ackedAt: null,
      restoredAt: null,
      healthyAt: null,
      finishedAt: null,
      error: null,
      restoredBytes: null,
      durationMs: null,
    };
  });
  return { ok: true, steps, warnings, problems, estimateMs: Math.max(0, ...steps.map((x) => x.finishesAtMs)) };
}

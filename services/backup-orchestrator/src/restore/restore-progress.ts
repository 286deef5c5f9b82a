import type { RestoreResult } from '@vigil/events';
import type { PlanStep } from './restore-plan';

export type PlanStatus = 'draft' | 'running' | 'succeeded' | 'failed';

/** A restore plan and its progress: what the dry run returns and what a run advances. */
export interface RestorePlan {
  planId: string;
  /** Bumped on every write: a write lands only on the revision it read. */
  rev: number;
  status: PlanStatus;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** null: in place; else every agent restores below this directory. */
  targetDir: string | null;
  steps: PlanStep[];
  warnings: string[];
  /** Reasons the plan cannot run (an agent without a verified backup). */
  problems: string[];
  estimateMs: number;
  /** Agents whose estimated finish is past their tier's RTO. */
  rtoMisses: string[];
  /** The failure that stopped the plan. */
  stoppedBy: string | null;
}

export interface ProgressSettings {
  parallelism: number;
  /** A command not acknowledged (`running`) within this is sent again (same attempt: the agent dedupes). */
  resendAfterMs: number;
  /** A restored agent that sends no healthy heartbeat within this fails its step. */
  healthTimeoutMs: number;
  /** A step's timeout: this, or three times its estimate when that is longer. */
  minStepTimeoutMs: number;
}

export const IN_FLIGHT = new Set(['restoring', 'awaiting_health']);

export const stepTimeoutMs = (step: PlanStep, s: ProgressSettings) => Math.max(s.minStepTimeoutMs, 3 * step.estimateMs);

/** Whether the tick still has to look at a plan (running, or failed with steps still in flight). */
export const isActive = (p: RestorePlan) =>
  p.status === 'running' || (p.status === 'failed' && p.steps.some((x) => IN_FLIGHT.has(x.status)));

/**
 * One step of a running plan at `now`: in-flight steps time out or pass their health gate (a
 * healthy heartbeat at or after the restore), the first failure stops the plan (pending steps are
 * skipped; steps in flight finish and are reported), and pending steps whose dependencies are done
 * start in plan order while fewer than `parallelism` are in flight. Returns the plan as it is now
 * and the steps whose command must be sent (new, or resent unacknowledged), or undefined when
 * nothing changed.
 */
export function advance(
  plan: RestorePlan,
  now: number,
  s: ProgressSettings,
  lastHealthyAt: (agentId: string) => number | undefined,
): { plan: RestorePlan; send: PlanStep[] } | undefined {
  if (!isActive(plan)) return undefined;
  let changed = false;
  const send: PlanStep[] = [];
  const steps = plan.steps.map((x) => ({ ...x }));
  const fail = (step: PlanStep, error: string) => {
    Object.assign(step, { status: 'failed', error, finishedAt: now });
    changed = true;
  };
  for (const step of steps) {
    if (step.status === 'restoring') {
      if (now - step.startedAt! > stepTimeoutMs(step, s)) fail(step, `no result within ${stepTimeoutMs(step, s)} ms`);
      else if (step.ackedAt === null && now - step.sentAt! >= s.resendAfterMs) send.push(step);
    } else if (step.status === 'awaiting_health') {
      const healthy = lastHealthyAt(step.agentId);
      if (healthy !== undefined && healthy >= step.restoredAt!) {
        Object.assign(step, { status: 'done', healthyAt: healthy, finishedAt: now });
        changed = true;
      } else if (now - step.restoredAt! > s.healthTimeoutMs)
        fail(step, `restored, but no healthy heartbeat within ${s.healthTimeoutMs} ms`);
    }
  }
  let { status, stoppedBy, finishedAt } = plan;
  const failed = steps.find((x) => x.status === 'failed');
  if (failed && status === 'running') {
    status = 'failed';
    stoppedBy = `${failed.agentId}: ${failed.error}`;
    for (const x of steps) if (x.status === 'pending') x.status = 'skipped';
    changed = true;
  }
  if (status === 'running') {
    const done = new Set(steps.filter((x) => x.status === 'done').map((x) => x.agentId));
    let inFlight = steps.filter((x) => IN_FLIGHT.has(x.status)).length;
    for (const step of steps) {
      if (inFlight >= s.parallelism) break;
      if (step.status !== 'pending' || !step.after.every((d) => done.has(d))) continue;
      Object.assign(step, { status: 'restoring', attempt: step.attempt + 1, startedAt: now, ackedAt: null });
      send.push(step);
      inFlight += 1;
      changed = true;
    }
    if (steps.every((x) => x.status === 'done')) {
      status = 'succeeded';
      finishedAt = now;
      changed = true;
    }
  }
  if (status === 'failed' && finishedAt === null && !steps.some((x) => IN_FLIGHT.has(x.status))) {
    finishedAt = now;
    changed = true;
  }
  for (const step of send) step.sentAt = now;
  if (!changed && send.length === 0) return undefined;
  return { plan: { ...plan, status, stoppedBy, finishedAt, steps }, send };
}

/** A result from the agent applied to its step; undefined when it is stale (another attempt) or a repeat. */
export function onResult(plan: RestorePlan, r: RestoreResult, now: number): RestorePlan | undefined {
  const i = plan.steps.findIndex((x) => x.agentId === r.agentId);
  const step = plan.steps[i];
  if (!step || r.restoreId !== restoreIdOf(plan.planId, r.agentId) || r.attempt !== step.attempt) return undefined;
  if (step.status !== 'restoring') return undefined;
  let next: PlanStep;
  if (r.status === 'running') {
    if (step.ackedAt !== null) return undefined;
    next = { ...step, ackedAt: now };
  } else if (r.status === 'succeeded') {
    next = {
      ...step,
      status: 'awaiting_health',
      ackedAt: step.ackedAt ?? now,
      restoredAt: now,
      restoredBytes: r.bytes,
      durationMs: r.durationMs,
    };
  } else {
    next = { ...step, status: 'failed', error: r.error ?? 'restore failed', finishedAt: now };
  }
  return { ...plan, steps: plan.steps.map((x, j) => (j === i ? next : x)) };
}

export const restoreIdOf = (planId: string, agentId: string) => `${planId}/${agentId}`;

/** What was restored and what was not: the plan's answer to "where are we". */
export function summary(plan: RestorePlan) {
  const of = (...st: string[]) => plan.steps.filter((x) => st.includes(x.status)).map((x) => x.agentId);
  return {
    restored: of('done'),
    inProgress: of('restoring', 'awaiting_health'),
    failed: plan.steps.filter((x) => x.status === 'failed').map((x) => ({ agentId: x.agentId, error: x.error })),
    notRestored: of('pending', 'skipped'),
  };
}

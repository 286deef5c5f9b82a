// When the soak injects which fault: drawn from a seed, so a run that found something is rerun as it was.
import { seededRandom, shuffle } from '@vigil/test-kit';

export type FaultKind =
  'kill-service' | 'pause-service' | 'kill-agent' | 'fill-agent-disk' | 'kill-broker' | 'kill-redis-master';

export interface Fault {
  /** Milliseconds from the start of the load. */
  at: number;
  kind: FaultKind;
}

export interface ScheduleOptions {
  seed: number;
  durationMs: number;
  counts: Partial<Record<FaultKind, number>>;
  /**
   * Least time between two infrastructure faults (broker or Redis master): one at a time, so the
   * cluster keeps its quorum and a slot keeps a replica to promote.
   */
  infraGapMs?: number;
}

/**
 * The faults in time order, all within the middle of the run (after a tenth of it, so the system
 * has settled, and before 85% of it, so the last fault's recovery is inside the run). Infrastructure
 * faults are spaced at least infraGapMs apart; when the run is too short to space them all, the
 * schedule throws rather than quietly injecting fewer than asked.
 */
export function faultSchedule(options: ScheduleOptions): Fault[] {
  const random = seededRandom(options.seed);
  const from = options.durationMs * 0.1;
  const span = options.durationMs * 0.75;
  const faults: Fault[] = [];
  const infra: FaultKind[] = ['kill-broker', 'kill-redis-master'];
  const infraCount = infra.reduce((n, k) => n + (options.counts[k] ?? 0), 0);
  const gap = options.infraGapMs ?? 30_000;
  if (infraCount > 0 && (infraCount - 1) * gap > span)
    throw new Error(
      `${infraCount} broker and Redis faults ${gap} ms apart do not fit in ${Math.round(span / 1000)} s of faults: run longer`,
    );
  // Infrastructure faults on a jittered grid, their kinds shuffled.
  const kinds = shuffle(
    infra.flatMap((k) => Array<FaultKind>(options.counts[k] ?? 0).fill(k)),
    random,
  );
  const slot = infraCount > 0 ? span / infraCount : 0;
  kinds.forEach((kind, i) =>
    faults.push({ kind, at: Math.round(from + i * slot + random() * Math.max(0, slot - gap)) }),
  );
  for (const kind of ['kill-service', 'pause-service', 'kill-agent', 'fill-agent-disk'] as const)
    for (let i = 0; i < (options.counts[kind] ?? 0); i++) faults.push({ kind, at: Math.round(from + random() * span) });
  return faults.sort((a, b) => a.at - b.at);
}

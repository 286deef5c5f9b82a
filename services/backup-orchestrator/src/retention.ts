import type { BackupKind } from '@vigil/events';

/** A verified backup the orchestrator keeps (the index retention works on). */
export interface KeptBackup {
  jobId: string;
  policyId: string;
  kind: BackupKind;
  baseJobId: string | null;
  location: string;
  manifestLocation: string;
  sizeBytes: number;
  sha256: string;
  verifiedAt: number;
}

/**
 * The newest chain an incremental can build on: the newest kept backup whose chain back to a full is
 * complete (every base kept). Undefined when there is none: the next backup must be a full.
 */
export function chainHead(kept: KeptBackup[]): KeptBackup | undefined {
  const byId = new Map(kept.map((b) => [b.jobId, b]));
  const complete = (b: KeptBackup): boolean => {
    for (let cur: KeptBackup | undefined = b, hops = 0; cur && hops <= kept.length; hops++) {
      if (cur.kind === 'full') return true;
      cur = cur.baseJobId ? byId.get(cur.baseJobId) : undefined;
    }
    return false;
  };
  return [...kept].sort((a, b) => b.verifiedAt - a.verifiedAt).find(complete);
}

/** The newest complete chain, full first: what a restore applies. Undefined when there is none. */
export function newestChain(kept: KeptBackup[]): KeptBackup[] | undefined {
  const byId = new Map(kept.map((b) => [b.jobId, b]));
  const out: KeptBackup[] = [];
  for (let cur = chainHead(kept); cur; cur = cur.kind === 'full' ? undefined : byId.get(cur.baseJobId ?? ''))
    out.unshift(cur);
  return out.length > 0 ? out : undefined;
}

/**
 * What retention removes from one policy's backups of one agent: everything but the newest
 * `keepLast` and (when set) what is younger than `maxAgeDays`, except the newest full and every
 * backup a kept one builds on, transitively (an incremental without its chain restores nothing).
 */
export function toPrune(
  kept: KeptBackup[],
  rule: { keepLast: number; maxAgeDays?: number },
  now: number,
): KeptBackup[] {
  const newestFirst = [...kept].sort((a, b) => b.verifiedAt - a.verifiedAt);
  const byId = new Map(kept.map((b) => [b.jobId, b]));
  const maxAgeMs = rule.maxAgeDays === undefined ? Infinity : rule.maxAgeDays * 86_400_000;
  const keep = new Set(
    newestFirst.filter((b, i) => i < rule.keepLast && now - b.verifiedAt <= maxAgeMs).map((b) => b.jobId),
  );
  const newestFull = newestFirst.find((b) => b.kind === 'full');
  if (newestFull) keep.add(newestFull.jobId);
  for (const id of [...keep]) {
    for (let base = byId.get(id)?.baseJobId; base && byId.has(base); base = byId.get(base)!.baseJobId) keep.add(base);
  }
  return newestFirst.filter((b) => !keep.has(b.jobId));
}

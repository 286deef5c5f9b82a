import type { AgentLivenessChanged, StateChangeEvent } from '@vigil/events';
import { changelogOf, entityStateKey, expectedAccepted, type connect } from '../state-sync-harness';

type Connection = ReturnType<typeof connect>;

export interface ChangeAudit {
  entities: number;
  accepted: number;
  changelogDuplicates: number;
  missingVersions: number;
  redisWrong: number;
}

/** Most violations listed one by one; past it the counts tell the rest. */
const LISTED = 20;

/**
 * Per entity, what the version gate should have accepted from `sent` (in the order sent) against
 * what the changelog holds (every accepted version once, in order) and what Redis holds (the newest).
 * `alsoAccepted`: entities published by others (agents' SDKs), with the versions each accepted.
 */
export async function auditChanges(
  sent: StateChangeEvent[],
  { kafka, redis }: Pick<Connection, 'kafka' | 'redis'>,
  violations: string[],
  alsoAccepted: ReadonlyMap<string, number[]> = new Map(),
): Promise<ChangeAudit> {
  const expected = new Map([...expectedAccepted(sent), ...alsoAccepted]);
  const logOf = await changelogOf(kafka, new Set(expected.keys()));
  const audit = { entities: expected.size, accepted: 0, changelogDuplicates: 0, missingVersions: 0, redisWrong: 0 };
  for (const [entityId, versions] of expected) {
    audit.accepted += versions.length;
    const inLog = (logOf.get(entityId) ?? []).map((r) => r.version);
    const seen = new Set<number>();
    for (const v of inLog)
      if (seen.has(v)) audit.changelogDuplicates++;
      else seen.add(v);
    audit.missingVersions += versions.filter((v) => !seen.has(v)).length;
    if (inLog.join() !== versions.join() && violations.length < LISTED)
      violations.push(`${entityId}: changelog ${inLog.join(',')} != accepted ${versions.join(',')}`);
    const stored = Number(await redis.hget(entityStateKey(entityId), 'version'));
    if (stored !== versions.at(-1)) {
      audit.redisWrong++;
      if (violations.length < LISTED)
        violations.push(`${entityId}: Redis holds ${stored}, newest accepted ${versions.at(-1)}`);
    }
  }
  if (audit.changelogDuplicates > 0) violations.push(`${audit.changelogDuplicates} changelog duplicates`);
  if (audit.missingVersions > 0)
    violations.push(`${audit.missingVersions} accepted versions missing from the changelog`);
  return audit;
}

export interface DetectionAudit {
  agents: number;
  killedAgents: number;
  falseDetections: number;
  killedDeclaredOnce: number;
  killedMissed: string[];
  killedTwice: string[];
}

/** Every agent of the fleet: a live one never declared unreachable, a killed one declared unreachable exactly once. */
export function auditDetections(
  seen: AgentLivenessChanged[],
  fleet: { agentIds: readonly string[]; killed: ReadonlySet<string> },
  violations: string[],
): DetectionAudit {
  const declared = new Map<string, number>();
  for (const t of seen) if (t.to === 'unreachable') declared.set(t.agentId, (declared.get(t.agentId) ?? 0) + 1);
  const audit: DetectionAudit = {
    agents: fleet.agentIds.length,
    killedAgents: fleet.killed.size,
    falseDetections: 0,
    killedDeclaredOnce: 0,
    killedMissed: [],
    killedTwice: [],
  };
  for (const agentId of fleet.agentIds) {
    const times = declared.get(agentId) ?? 0;
    if (!fleet.killed.has(agentId)) {
      audit.falseDetections += times;
      if (times > 0) violations.push(`${agentId} was alive and declared unreachable ${times}x`);
    } else if (times === 0) audit.killedMissed.push(agentId);
    else if (times > 1) audit.killedTwice.push(agentId);
    else audit.killedDeclaredOnce++;
  }
  for (const a of fleet.killed)
    if (!fleet.agentIds.includes(a)) violations.push(`${a} was killed but is not one of the fleet's agents`);
  for (const a of audit.killedMissed) violations.push(`${a} was killed and never declared unreachable`);
  for (const a of audit.killedTwice) violations.push(`${a} was declared unreachable more than once`);
  return audit;
}

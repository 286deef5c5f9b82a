import type { AgentRegistration } from '@vigil/events';
import type { Lease, PartitionChanges } from './detection/lease-table';
import type { RegistryEntry } from './lease-store';

/** The agent registry records a write carries: new or changed registrations, tombstones of removed leases. */
export function registryEntries(
  changes: PartitionChanges,
  leaseOf: (agentId: string) => Lease | undefined,
): RegistryEntry[] {
  const out: RegistryEntry[] = [];
  for (const id of changes.registered) {
    const l = leaseOf(id);
    if (l) out.push({ registration: registrationOf(l) });
  }
  for (const id of changes.removed) out.push({ tombstone: id });
  return out;
}

export function registrationOf(l: Lease): AgentRegistration {
  return {
    agentId: l.agentId,
    host: l.host,
    agentVersion: l.agentVersion,
    priorityTier: l.priorityTier,
    dependencies: [...l.dependencies],
    labels: { ...l.labels },
    intervalMs: l.intervalMs,
    missThreshold: l.missThreshold,
    startPeriodMs: l.startPeriodMs,
    bootId: l.bootId,
    registeredAt: l.registeredAt,
    changedAt: l.lastBeatAt,
  };
}

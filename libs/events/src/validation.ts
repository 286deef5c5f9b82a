import type { Heartbeat, StateChangeEvent } from './types';

/** How far an agent's clock may run ahead of the broker before its event is refused as far-future. */
export const MAX_FUTURE_SKEW_MS = 24 * 3600 * 1000;
const MAX_ID_LENGTH = 256;

function idProblem(field: string, value: string): string | null {
  if (value.length === 0) return `${field} is empty`;
  if (value.length > MAX_ID_LENGTH) return `${field} is longer than ${MAX_ID_LENGTH} characters`;
  return null;
}

export function validateStateChange(v: StateChangeEvent, recordTimestampMs: number): string | null {
  // Called for every consumed record: no array of fields to walk, no allocation when all is well.
  const problem =
    idProblem('eventId', v.eventId) ?? idProblem('entityId', v.entityId) ?? idProblem('agentId', v.agentId);
  if (problem) return problem;
  if (!Number.isSafeInteger(v.version) || v.version < 0) {
    return `version ${v.version} is not a non-negative integer`;
  }
  if (v.timestamp - recordTimestampMs > MAX_FUTURE_SKEW_MS) {
    return `timestamp ${v.timestamp} is more than ${MAX_FUTURE_SKEW_MS} ms ahead of the broker`;
  }
  if (v.eventType !== 'deleted' && v.payload !== null) {
    try {
      JSON.parse(v.payload);
    } catch {
      return 'payload is not valid JSON';
    }
  }
  return null;
}

export function validateHeartbeat(v: Heartbeat): string | null {
  const problem = idProblem('agentId', v.agentId);
  if (problem) return problem;
  if (v.intervalMs < 100 || v.intervalMs > 3_600_000) return `intervalMs ${v.intervalMs} is outside 100..3600000`;
  if (v.missThreshold < 1 || v.missThreshold > 100) return `missThreshold ${v.missThreshold} is outside 1..100`;
  if (v.startPeriodMs < 0) return `startPeriodMs ${v.startPeriodMs} is negative`;
  return null;
}

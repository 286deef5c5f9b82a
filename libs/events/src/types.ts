// TypeScript shapes of the Avro schemas in ./schemas. The codec validates every value against the
// schema on encode, and schemas.spec.ts checks a sample of each type, so drift fails loudly.

export type AgentReportedStatus = 'starting' | 'ok' | 'degraded' | 'stopping';

export interface HealthCheck {
  name: string;
  ok: boolean;
  detail: string | null;
}

export interface Heartbeat {
  agentId: string;
  host: string;
  status: AgentReportedStatus;
  sequence: number;
  bootId: string;
  timestamp: number;
  intervalMs: number;
  missThreshold: number;
  startPeriodMs: number;
  agentVersion: string;
  priorityTier: number;
  dependencies: string[];
  labels: Record<string, string>;
  checks: HealthCheck[];
  metrics: Record<string, number>;
}

export type StateChangeType = 'created' | 'updated' | 'deleted';

export interface StateChangeEvent {
  eventId: string;
  entityId: string;
  entityType: string;
  agentId: string;
  eventType: StateChangeType;
  version: number;
  timestamp: number;
  payload: string | null;
  checksum: string | null;
}

export type LivenessState =
  'unknown' | 'starting' | 'healthy' | 'degraded' | 'suspect' | 'unreachable' | 'deregistered';

export interface AgentLivenessChanged {
  agentId: string;
  from: LivenessState;
  to: LivenessState;
  since: number;
  lastHeartbeatAt: number | null;
  reason: string;
  host: string | null;
  /**
   * `<agentId>/<from>><to>@<since>`: one transition, however often it is published (heartbeat
   * republishes its outbox after a crash), so consumers dedupe on it. "" in records older than it.
   */
  eventId: string;
}

/** Who an agent is (compacted, keyed by agent id; a tombstone when it is deregistered or forgotten). */
export interface AgentRegistration {
  agentId: string;
  host: string;
  agentVersion: string;
  priorityTier: number;
  dependencies: string[];
  labels: Record<string, string>;
  intervalMs: number;
  missThreshold: number;
  startPeriodMs: number;
  bootId: string;
  registeredAt: number;
  changedAt: number;
}

export type HealAction = 'restart' | 'reregister' | 'failover';

export interface HealCommand {
  commandId: string;
  agentId: string;
  action: HealAction;
  attempt: number;
  reason: string;
  issuedAt: number;
  timeoutMs: number;
}

export interface HealResult {
  commandId: string;
  agentId: string;
  action: HealAction;
  attempt: number;
  success: boolean;
  error: string | null;
  completedAt: number;
}

export type AlertSeverity = 'info' | 'warning' | 'critical';
export type AlertStatus = 'firing' | 'resolved';

export interface AlertEvent {
  fingerprint: string;
  alertName: string;
  severity: AlertSeverity;
  status: AlertStatus;
  agentId: string | null;
  groupKey: string;
  summary: string;
  labels: Record<string, string>;
  startsAt: number;
  endsAt: number | null;
}

export type BackupTrigger = 'scheduled' | 'state_change' | 'pre_heal' | 'manual';

export type BackupKind = 'full' | 'incremental';

/** The verified backup an incremental builds on. */
export interface BackupBase {
  jobId: string;
  location: string;
  manifestLocation: string;
}

export interface BackupCommand {
  jobId: string;
  agentId: string;
  policyId: string;
  trigger: BackupTrigger;
  paths: string[];
  attempt: number;
  requestedAt: number;
  timeoutMs: number;
  kind: BackupKind;
  base: BackupBase | null;
}

export type BackupStatus = 'running' | 'succeeded' | 'failed' | 'timed_out';

export interface BackupResult {
  jobId: string;
  agentId: string;
  status: BackupStatus;
  location: string | null;
  sizeBytes: number | null;
  sha256: string | null;
  error: string | null;
  reportedAt: number;
  kind: BackupKind;
  baseJobId: string | null;
  manifestLocation: string | null;
  fileCount: number | null;
  durationMs: number | null;
  attempt: number;
}

/** A backup another service asks for (the notifier, before it heals an agent). */
export interface BackupRequest {
  requestId: string;
  agentId: string;
  policyId: string;
  kind: BackupKind;
  trigger: BackupTrigger;
  reason: string | null;
  requestedAt: number;
}

export type BackupVerdict = 'verified' | 'failed' | 'timed_out';

/** The orchestrator's verdict on a job (the agent's report is a claim; this is the checked fact). */
export interface BackupVerified {
  jobId: string;
  agentId: string;
  policyId: string;
  kind: BackupKind;
  baseJobId: string | null;
  verdict: BackupVerdict;
  reason: string | null;
  location: string | null;
  manifestLocation: string | null;
  sizeBytes: number | null;
  sha256: string | null;
  attempt: number;
  verifiedAt: number;
}

/** One verified archive of a restore chain. */
export interface RestoreArchive {
  jobId: string;
  kind: BackupKind;
  location: string;
  manifestLocation: string;
  sizeBytes: number;
  sha256: string;
}

/** One step of a restore plan: the agent restores the chain (full first, then its incrementals). */
export interface RestoreCommand {
  restoreId: string;
  planId: string;
  agentId: string;
  chain: RestoreArchive[];
  /** null: in place; else below this directory. */
  targetDir: string | null;
  attempt: number;
  requestedAt: number;
  timeoutMs: number;
}

export type RestoreStatus = 'running' | 'succeeded' | 'failed';

export interface RestoreResult {
  restoreId: string;
  planId: string;
  agentId: string;
  status: RestoreStatus;
  error: string | null;
  bytes: number | null;
  fileCount: number | null;
  durationMs: number | null;
  /** Reported by crash recovery (a swap completed or rolled back after a restart). */
  recovered: boolean;
  attempt: number;
  reportedAt: number;
}

export type DeadLetterReason =
  | 'undecodable'
  | 'unknown_schema_id'
  | 'schema_mismatch'
  | 'schema_invalid'
  | 'missing_key'
  | 'oversized'
  | 'invalid_value'
  | 'rejected';

export interface DeadLetter {
  topic: string;
  partition: number;
  offset: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer>;
  timestamp: number;
  reason: DeadLetterReason;
  error: string;
  consumerGroup: string;
  failedAt: number;
  /** Key, value or headers were cut to fit the dead-letter topic (absent: written before this field). */
  truncated?: boolean;
  /** The original value's size and SHA-256 (hex), kept when the value is cut. */
  valueBytes?: number | null;
  valueSha256?: string | null;
}

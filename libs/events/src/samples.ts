// One valid value of every event type: for docs, the smoke publisher and the contract tests.
import type {
  AgentLivenessChanged,
  AgentRegistration,
  AlertEvent,
  BackupCommand,
  BackupRequest,
  BackupResult,
  BackupVerified,
  DeadLetter,
  HealCommand,
  HealResult,
  Heartbeat,
  RestoreCommand,
  RestoreResult,
  StateChangeEvent,
} from './types';

export function sampleHeartbeat(agentId = 'agent-1', overrides: Partial<Heartbeat> = {}): Heartbeat {
  return {
    agentId,
    host: 'host-a',
    status: 'ok',
    sequence: 7,
    bootId: 'boot-1',
    timestamp: Date.now(),
    intervalMs: 1000,
    missThreshold: 3,
    startPeriodMs: 5000,
    agentVersion: '1.2.3',
    priorityTier: 1,
    dependencies: ['db-1'],
    labels: { zone: 'eu-1' },
    checks: [{ name: 'disk', ok: true, detail: null }],
    metrics: { cpu: 0.25, rssBytes: 1.5e8 },
    ...overrides,
  };
}

export function sampleStateChange(
  entityId = 'entity-1',
  version = 1,
  overrides: Partial<StateChangeEvent> = {},
): StateChangeEvent {
  return {
    eventId: `${entityId}-v${version}`,
    entityId,
    entityType: 'service',
    agentId: 'agent-1',
    eventType: version === 1 ? 'created' : 'updated',
    version,
    timestamp: Date.now(),
    payload: JSON.stringify({ replicas: version }),
    checksum: null,
    ...overrides,
  };
}

export const sampleLiveness = (): AgentLivenessChanged => ({
  agentId: 'agent-1',
  from: 'healthy',
  to: 'unreachable',
  since: 1_700_000_003_000,
  lastHeartbeatAt: 1_700_000_000_000,
  reason: 'missed 3 heartbeats',
  host: 'host-a',
  eventId: 'agent-1/healthy>unreachable@1700000003000',
});

export const sampleRegistration = (overrides: Partial<AgentRegistration> = {}): AgentRegistration => ({
  agentId: 'agent-1',
  host: 'host-a',
  agentVersion: '1.4.2',
  priorityTier: 0,
  dependencies: ['db'],
  labels: { role: 'db' },
  intervalMs: 1000,
  missThreshold: 3,
  startPeriodMs: 0,
  bootId: 'boot-1',
  registeredAt: 1_700_000_000_000,
  changedAt: 1_700_000_000_000,
  ...overrides,
});

export const sampleHealCommand = (overrides: Partial<HealCommand> = {}): HealCommand => ({
  commandId: 'cmd-1',
  agentId: 'agent-1',
  action: 'restart',
  attempt: 1,
  reason: 'unreachable',
  issuedAt: 1_700_000_004_000,
  timeoutMs: 10000,
  ...overrides,
});

export const sampleHealResult = (): HealResult => ({
  commandId: 'cmd-1',
  agentId: 'agent-1',
  action: 'restart',
  attempt: 1,
  success: false,
  error: 'agent did not come back',
  completedAt: 1_700_000_014_000,
});

export const sampleAlert = (): AlertEvent => ({
  fingerprint: 'f0e1d2',
  alertName: 'AgentUnreachable',
  severity: 'critical',
  status: 'firing',
  agentId: 'agent-1',
  groupKey: 'AgentUnreachable/eu-1',
  summary: 'agent-1 unreachable after 3 failed heals',
  labels: { zone: 'eu-1' },
  startsAt: 1_700_000_040_000,
  endsAt: null,
});

export const sampleBackupCommand = (overrides: Partial<BackupCommand> = {}): BackupCommand => ({
  jobId: 'job-1',
  agentId: 'agent-1',
  policyId: 'nightly',
  trigger: 'scheduled',
  paths: ['/var/lib/app'],
  attempt: 1,
  requestedAt: 1_700_000_000_000,
  timeoutMs: 600000,
  kind: 'incremental',
  base: {
    jobId: 'job-0',
    location: '/backups/agent-1/job-0.tar.gz',
    manifestLocation: '/backups/agent-1/job-0.manifest.json',
  },
  ...overrides,
});

export const sampleBackupResult = (): BackupResult => ({
  jobId: 'job-1',
  agentId: 'agent-1',
  status: 'succeeded',
  location: '/backups/agent-1/job-1.tar.gz',
  sizeBytes: 123456,
  sha256: 'a'.repeat(64),
  error: null,
  reportedAt: 1_700_000_060_000,
  kind: 'incremental',
  baseJobId: 'job-0',
  manifestLocation: '/backups/agent-1/job-1.manifest.json',
  fileCount: 12,
  durationMs: 840,
  attempt: 2,
});

export const sampleBackupVerified = (): BackupVerified => ({
  jobId: 'job-1',
  agentId: 'agent-1',
  policyId: 'nightly',
  kind: 'incremental',
  baseJobId: 'job-0',
  verdict: 'verified',
  reason: null,
  location: '/backups/agent-1/job-1.tar.gz',
  manifestLocation: '/backups/agent-1/job-1.manifest.json',
  sizeBytes: 123456,
  sha256: 'a'.repeat(64),
  attempt: 1,
  verifiedAt: 1_700_000_061_000,
});

export const sampleDeadLetter = (): DeadLetter => ({
  topic: 'vigil.agent.state-changes',
  partition: 3,
  offset: 42,
  key: Buffer.from('entity-1'),
  value: Buffer.from([1, 2, 3]),
  headers: { traceparent: Buffer.from('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01') },
  timestamp: 1_700_000_000_000,
  reason: 'undecodable',
  error: 'not in the registry wire format',
  consumerGroup: 'state-sync',
  failedAt: 1_700_000_000_100,
  truncated: false,
  valueBytes: 3,
  valueSha256: '039058c6f2c0cb492c533b0a4d14ef77cc0f78abccced5287d84a1a2011cfb81',
});

export const sampleBackupRequest = (): BackupRequest => ({
  requestId: 'agent-1/healthy>unreachable@1700000003000',
  agentId: 'agent-1',
  policyId: 'nightly',
  kind: 'incremental',
  trigger: 'pre_heal',
  reason: 'before healing: agent unreachable',
  requestedAt: 1_700_000_004_000,
});

export const sampleRestoreCommand = (overrides: Partial<RestoreCommand> = {}): RestoreCommand => ({
  restoreId: 'plan-1/agent-1',
  planId: 'plan-1',
  agentId: 'agent-1',
  chain: [
    {
      jobId: 'job-0',
      kind: 'full',
      location: '/backups/agent-1/job-0.tar.gz',
      manifestLocation: '/backups/agent-1/job-0.manifest.json',
      sizeBytes: 123456,
      sha256: 'b'.repeat(64),
    },
    {
      jobId: 'job-1',
      kind: 'incremental',
      location: '/backups/agent-1/job-1.tar.gz',
      manifestLocation: '/backups/agent-1/job-1.manifest.json',
      sizeBytes: 2345,
      sha256: 'a'.repeat(64),
    },
  ],
  targetDir: null,
  attempt: 1,
  requestedAt: 1_700_000_100_000,
  timeoutMs: 600_000,
  ...overrides,
});

export const sampleRestoreResult = (overrides: Partial<RestoreResult> = {}): RestoreResult => ({
  restoreId: 'plan-1/agent-1',
  planId: 'plan-1',
  agentId: 'agent-1',
  status: 'succeeded',
  error: null,
  bytes: 125801,
  fileCount: 40,
  durationMs: 930,
  recovered: false,
  attempt: 1,
  reportedAt: 1_700_000_101_000,
  ...overrides,
});

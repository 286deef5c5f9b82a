/** The parts of the services' HTTP answers the CLI reads (the services' controllers own the rest). */

export interface FleetAgent {
  agentId: string;
  partition: number;
  host: string;
  state: string;
  since: string;
  lastHeartbeat: string;
  agentVersion: string;
  priorityTier: number;
  labels: Record<string, string>;
  dependencies: string[];
  failedChecks: string[];
}

export interface FleetPage {
  total: number;
  counts: Record<string, number>;
  matching: number;
  agents: FleetAgent[];
}

export interface ListedAlert {
  fingerprint: string;
  alertName: string;
  agentId: string | null;
  severity: string;
  summary: string;
  labels: Record<string, string>;
  startsAt: number;
  state: 'active' | 'suppressed';
  silencedBy: string[];
  inhibitedBy: string[];
}

export interface Silence {
  id: string;
  matchers: Array<{ name: string; value: string; isRegex: boolean; isEqual: boolean }>;
  createdBy: string;
  comment: string;
  startsAt: number;
  endsAt: number;
  state: string;
}

export interface Heals {
  agentId: string;
  phase: string;
  cause: string | null;
  attempts: Array<{ attempt: number; outcome?: string; sentAt?: number }>;
}

export interface KeptBackup {
  jobId: string;
  policyId: string;
  kind: string;
  location: string;
  sizeBytes: number;
  verifiedAt: number;
}

export interface PlanStep {
  agentId: string;
  tier: number;
  after: string[];
  bytes: number;
  estimateMs: number;
  startsAtMs: number;
  finishesAtMs: number;
  missesRto: boolean;
  status: string;
}

export interface RestorePlan {
  planId: string;
  status: string;
  steps: PlanStep[];
  warnings: string[];
  problems: string[];
  estimateMs: number;
  rtoMisses: string[];
}

export interface Entity {
  entityId: string;
  entityType: string;
  agentId: string;
  version: number;
  eventType: string;
  lastEventId: string;
  payload: unknown;
  appliedAt: number;
}

import type { Schema } from 'avsc';
import heartbeatSchema from './schemas/heartbeat.avsc.json';
import stateChangeSchema from './schemas/state-change-event.avsc.json';
import livenessSchema from './schemas/agent-liveness-changed.avsc.json';
import registrationSchema from './schemas/agent-registration.avsc.json';
import healCommandSchema from './schemas/heal-command.avsc.json';
import healResultSchema from './schemas/heal-result.avsc.json';
import alertSchema from './schemas/alert-event.avsc.json';
import backupCommandSchema from './schemas/backup-command.avsc.json';
import backupResultSchema from './schemas/backup-result.avsc.json';
import backupVerifiedSchema from './schemas/backup-verified.avsc.json';
import backupRequestSchema from './schemas/backup-request.avsc.json';
import restoreCommandSchema from './schemas/restore-command.avsc.json';
import restoreResultSchema from './schemas/restore-result.avsc.json';
import deadLetterSchema from './schemas/dead-letter.avsc.json';
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
import { validateHeartbeat, validateStateChange } from './validation';

/** What a value must satisfy beyond its schema; returns the reason it is invalid, or null. */
export type ValueValidator<T> = (value: T, recordTimestampMs: number) => string | null;

export interface TopicDef<T> {
  readonly name: string;
  readonly schema: Schema;
  /** The record key; per-key order is what Kafka guarantees, so this decides what stays ordered. */
  readonly key: (value: T) => string;
  /** What the key names, as the span attribute the publish and consume spans of its records carry it in. */
  readonly keyAttribute?: 'vigil.agent.id' | 'vigil.entity.id' | 'vigil.alert.fingerprint';
  readonly partitions: number;
  /** Broker-side topic config (cleanup.policy, message.timestamp.type, ...). */
  readonly config: Readonly<Record<string, string>>;
  readonly validate?: ValueValidator<T>;
  /** The topic's dead-letter companion; undefined for a DLQ itself (a DLQ has no DLQ). */
  readonly dlq?: TopicDef<DeadLetter>;
}

const DAY_MS = 24 * 3600 * 1000;

function deadLetterTopic(source: string): TopicDef<DeadLetter> {
  return {
    name: `${source}.dlq`,
    schema: deadLetterSchema as Schema,
    key: (v) => `${v.topic}/${v.partition}/${v.offset}`,
    partitions: 1,
    config: { 'retention.ms': String(30 * DAY_MS) },
  };
}

function topic<T>(def: Omit<TopicDef<T>, 'dlq'>): TopicDef<T> {
  return { ...def, dlq: deadLetterTopic(def.name) };
}

/** The catalogue: every topic Vigil reads or writes, with its schema, key and broker config. */
export const Topics = {
  heartbeats: topic<Heartbeat>({
    name: 'vigil.agent.heartbeats',
    schema: heartbeatSchema as Schema,
    key: (v) => v.agentId,
    keyAttribute: 'vigil.agent.id',
    partitions: 12,
    // Liveness is judged on broker time: the broker stamps each record when it appends it.
    config: { 'message.timestamp.type': 'LogAppendTime', 'retention.ms': String(DAY_MS) },
    validate: validateHeartbeat,
  }),
  stateChanges: topic<StateChangeEvent>({
    name: 'vigil.agent.state-changes',
    schema: stateChangeSchema as Schema,
    key: (v) => v.entityId,
    keyAttribute: 'vigil.entity.id',
    partitions: 12,
    config: { 'retention.ms': String(7 * DAY_MS) },
    validate: validateStateChange,
  }),
  stateChangelog: topic<StateChangeEvent>({
    name: 'vigil.state.changelog',
    schema: stateChangeSchema as Schema,
    key: (v) => v.entityId,
    keyAttribute: 'vigil.entity.id',
    partitions: 12,
    // The source of truth for entity state: compaction keeps the newest record per entity forever.
    // Segments roll hourly (not weekly, the default): only closed segments are compacted, and a
    // rebuild of Redis reads what compaction left, so it costs the entities, not their history.
    config: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '60000', 'segment.ms': String(3600 * 1000) },
  }),
  liveness: topic<AgentLivenessChanged>({
    name: 'vigil.agent.liveness',
    schema: livenessSchema as Schema,
    key: (v) => v.agentId,
    keyAttribute: 'vigil.agent.id',
    partitions: 6,
    config: { 'retention.ms': String(7 * DAY_MS) },
  }),
  agentRegistry: topic<AgentRegistration>({
    name: 'vigil.agent.registry',
    schema: registrationSchema as Schema,
    key: (v) => v.agentId,
    keyAttribute: 'vigil.agent.id',
    partitions: 6,
    // The fleet's directory: compaction keeps each agent's newest registration, tombstones remove it.
    config: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '60000', 'segment.ms': String(3600 * 1000) },
  }),
  healCommands: topic<HealCommand>({
    name: 'vigil.heal.commands',
    schema: healCommandSchema as Schema,
    key: (v) => v.agentId,
    keyAttribute: 'vigil.agent.id',
    partitions: 6,
    config: { 'retention.ms': String(7 * DAY_MS) },
  }),
  healResults: topic<HealResult>({
    name: 'vigil.heal.results',
    schema: healResultSchema as Schema,
    key: (v) => v.agentId,
    keyAttribute: 'vigil.agent.id',
    partitions: 6,
    config: { 'retention.ms': String(7 * DAY_MS) },
  }),
  alerts: topic<AlertEvent>({
    name: 'vigil.alerts',
    schema: alertSchema as Schema,
    key: (v) => v.fingerprint,
    keyAttribute: 'vigil.alert.fingerprint',
    partitions: 6,
    config: { 'retention.ms': String(30 * DAY_MS) },
  }),
  backupCommands: topic<BackupCommand>({
    name: 'vigil.backup.commands',
    schema: backupCommandSchema as Schema,
    key: (v) => v.agentId,
    keyAttribute: 'vigil.agent.id',
    partitions: 6,
    config: { 'retention.ms': String(7 * DAY_MS) },
  }),
  backupResults: topic<BackupResult>({
    name: 'vigil.backup.results',
    schema: backupResultSchema as Schema,
    key: (v) => v.agentId,
    keyAttribute: 'vigil.agent.id',
    partitions: 6,
    config: { 'retention.ms': String(30 * DAY_MS) },
  }),
  /** Backups other services ask the orchestrator for (the notifier's pre-heal backups). */
  backupRequests: topic<BackupRequest>({
    name: 'vigil.backup.requests',
    schema: backupRequestSchema as Schema,
    key: (v) => v.agentId,
    keyAttribute: 'vigil.agent.id',
    partitions: 6,
    config: { 'retention.ms': String(7 * DAY_MS) },
  }),
  /** The orchestrator's verdicts: the notifier alerts and resolves on these, never on the agent's claims. */
  backupVerified: topic<BackupVerified>({
    name: 'vigil.backup.verified',
    schema: backupVerifiedSchema as Schema,
    key: (v) => v.agentId,
    keyAttribute: 'vigil.agent.id',
    partitions: 6,
    config: { 'retention.ms': String(30 * DAY_MS) },
  }),
  /** Restore plan steps for agents (their host's supervisor runs them). */
  restoreCommands: topic<RestoreCommand>({
    name: 'vigil.restore.commands',
    schema: restoreCommandSchema as Schema,
    key: (v) => v.agentId,
    keyAttribute: 'vigil.agent.id',
    partitions: 6,
    config: { 'retention.ms': String(7 * DAY_MS) },
  }),
  restoreResults: topic<RestoreResult>({
    name: 'vigil.restore.results',
    schema: restoreResultSchema as Schema,
    key: (v) => v.agentId,
    keyAttribute: 'vigil.agent.id',
    partitions: 6,
    config: { 'retention.ms': String(30 * DAY_MS) },
  }),
} as const;

export type TopicKey = keyof typeof Topics;

/** Every topic of the catalogue together with its dead-letter topic. */
export function allTopics(): TopicDef<unknown>[] {
  const out: TopicDef<unknown>[] = [];
  for (const def of Object.values(Topics) as TopicDef<unknown>[]) {
    out.push(def);
    if (def.dlq) out.push(def.dlq as TopicDef<unknown>);
  }
  return out;
}

export function topicByName(name: string): TopicDef<unknown> | undefined {
  return allTopics().find((t) => t.name === name);
}

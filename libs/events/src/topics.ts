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
import { RecordHeaderNames } from './headers';
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
  /** What one record means, for people and for the AsyncAPI document. */
  readonly summary: string;
  /** Who writes it and who reads it (other systems may read any topic; see the README). */
  readonly producers: readonly Party[];
  readonly consumers: readonly Party[];
  /** Record headers beyond the W3C trace context every record may carry. */
  readonly headers?: readonly (keyof typeof RecordHeaderNames)[];
  /** A record with a key and no value deletes the key (compacted topics). */
  readonly tombstones?: boolean;
  /**
   * Written in transactions, one transactional id per partition, so that only the partition's
   * current owner can commit there (a writer that lost it is fenced). Readers see committed records
   * only (read_committed, KafkaJS's default); writers need WRITE on their transactional ids.
   */
  readonly transactional?: boolean;
  /**
   * Whether this topic's dead letters may be republished to it after a fix (`vigil dlq --replay`),
   * and why. Absent: refused, as nobody has shown a replay of it to be harmless.
   */
  readonly replay?: { readonly safe: boolean; readonly why: string };
}

/** The writers and readers of Vigil's topics. */
export type Party =
  'agent' | 'agent supervisor' | 'heartbeat' | 'state-sync' | 'notifier' | 'backup-orchestrator' | 'any consumer';

const DAY_MS = 24 * 3600 * 1000;

function deadLetterTopic(source: Omit<TopicDef<unknown>, 'dlq'>): TopicDef<DeadLetter> {
  return {
    name: `${source.name}.dlq`,
    schema: deadLetterSchema as Schema,
    key: (v) => `${v.topic}/${v.partition}/${v.offset}`,
    partitions: 1,
    config: { 'retention.ms': String(30 * DAY_MS) },
    summary:
      `A record of ${source.name} that its reader refused (undecodable, invalid, oversized, no key), ` +
      'with its bytes, headers, position and the reason; written before the offset is committed.',
    producers: source.consumers.filter((p) => p !== 'any consumer'),
    consumers: ['any consumer'],
  };
}

function topic<T>(def: Omit<TopicDef<T>, 'dlq'>): TopicDef<T> {
  return { ...def, dlq: deadLetterTopic(def as Omit<TopicDef<unknown>, 'dlq'>) };
}

/** The catalogue: every topic Vigil reads or writes, with its schema, key and broker config. */
export const Topics = {
  heartbeats: topic<Heartbeat>({
    name: 'vigil.agent.heartbeats',
    summary:
      "A proof of life: the agent's lease settings (interval, miss threshold), status, checks, registration data; judged on broker time.",
    producers: ['agent'],
    consumers: ['heartbeat', 'backup-orchestrator'],
    schema: heartbeatSchema as Schema,
    key: (v) => v.agentId,
    keyAttribute: 'vigil.agent.id',
    partitions: 12,
    // Liveness is judged on broker time: the broker stamps each record when it appends it.
    config: { 'message.timestamp.type': 'LogAppendTime', 'retention.ms': String(DAY_MS) },
    validate: validateHeartbeat,
    replay: {
      safe: false,
      why: 'liveness is judged on broker time, so a replayed heartbeat is a fresh proof of life: it would revive a dead agent',
    },
  }),
  stateChanges: topic<StateChangeEvent>({
    name: 'vigil.agent.state-changes',
    summary:
      "A change of one entity an agent owns, with a unique event id and the entity's next version: applied once (dedupe by event id), only if newer (version gate).",
    producers: ['agent'],
    consumers: ['state-sync'],
    schema: stateChangeSchema as Schema,
    key: (v) => v.entityId,
    keyAttribute: 'vigil.entity.id',
    partitions: 12,
    config: { 'retention.ms': String(7 * DAY_MS) },
    validate: validateStateChange,
    replay: {
      safe: true,
      why: 'state-sync dedupes by event id and gates by version: a replayed change applies once, and only while it is the newest',
    },
  }),
  stateChangelog: topic<StateChangeEvent>({
    name: 'vigil.state.changelog',
    summary:
      "Each accepted state change, keyed by entity, in version order; a deletion is a tombstone whose headers name its version, event and agent. Read from the beginning it is the table of every entity's latest state.",
    producers: ['state-sync'],
    // state-sync reads its tail back to recover what a crash left unpublished.
    consumers: ['state-sync', 'notifier', 'backup-orchestrator', 'any consumer'],
    headers: ['version', 'eventId', 'agentId'],
    tombstones: true,
    transactional: true,
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
    summary:
      "An agent's liveness changed (starting, healthy, degraded, suspect, unreachable, deregistered), with why and since when (broker time).",
    producers: ['heartbeat'],
    consumers: ['notifier', 'any consumer'],
    schema: livenessSchema as Schema,
    key: (v) => v.agentId,
    keyAttribute: 'vigil.agent.id',
    partitions: 6,
    config: { 'retention.ms': String(7 * DAY_MS) },
  }),
  agentRegistry: topic<AgentRegistration>({
    name: 'vigil.agent.registry',
    summary:
      'Who each agent is (host, version, tier, dependencies, labels), kept per agent by compaction; a tombstone removes a deregistered agent.',
    producers: ['heartbeat'],
    consumers: ['notifier', 'backup-orchestrator', 'any consumer'],
    tombstones: true,
    schema: registrationSchema as Schema,
    key: (v) => v.agentId,
    keyAttribute: 'vigil.agent.id',
    partitions: 6,
    // The fleet's directory: compaction keeps each agent's newest registration, tombstones remove it.
    config: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '60000', 'segment.ms': String(3600 * 1000) },
  }),
  healCommands: topic<HealCommand>({
    name: 'vigil.heal.commands',
    summary:
      "Heal an agent (restart, ...): attempt n of an incident, with a deadline; its host's supervisor runs it once.",
    producers: ['notifier'],
    consumers: ['agent supervisor'],
    schema: healCommandSchema as Schema,
    key: (v) => v.agentId,
    keyAttribute: 'vigil.agent.id',
    partitions: 6,
    config: { 'retention.ms': String(7 * DAY_MS) },
  }),
  healResults: topic<HealResult>({
    name: 'vigil.heal.results',
    summary: "How a heal went, as the agent's supervisor tells it.",
    producers: ['agent supervisor'],
    consumers: ['notifier'],
    schema: healResultSchema as Schema,
    key: (v) => v.agentId,
    keyAttribute: 'vigil.agent.id',
    partitions: 6,
    config: { 'retention.ms': String(7 * DAY_MS) },
  }),
  alerts: topic<AlertEvent>({
    name: 'vigil.alerts',
    summary:
      "An alert fired or resolved, keyed by its fingerprint (Alertmanager's model: labels, annotations, startsAt, endsAt).",
    producers: ['notifier'],
    consumers: ['notifier', 'any consumer'],
    schema: alertSchema as Schema,
    key: (v) => v.fingerprint,
    keyAttribute: 'vigil.alert.fingerprint',
    partitions: 6,
    config: { 'retention.ms': String(30 * DAY_MS) },
  }),
  backupCommands: topic<BackupCommand>({
    name: 'vigil.backup.commands',
    summary: 'Back up these paths of an agent now (full or incremental), into the store the orchestrator names.',
    producers: ['backup-orchestrator'],
    consumers: ['agent supervisor'],
    schema: backupCommandSchema as Schema,
    key: (v) => v.agentId,
    keyAttribute: 'vigil.agent.id',
    partitions: 6,
    config: { 'retention.ms': String(7 * DAY_MS) },
  }),
  backupResults: topic<BackupResult>({
    name: 'vigil.backup.results',
    summary: "What the agent's supervisor archived, where, its size and SHA-256 (to be verified, not trusted).",
    producers: ['agent supervisor'],
    consumers: ['backup-orchestrator'],
    schema: backupResultSchema as Schema,
    key: (v) => v.agentId,
    keyAttribute: 'vigil.agent.id',
    partitions: 6,
    config: { 'retention.ms': String(30 * DAY_MS) },
  }),
  /** Backups other services ask the orchestrator for (the notifier's pre-heal backups). */
  backupRequests: topic<BackupRequest>({
    name: 'vigil.backup.requests',
    summary: 'Another service asks for a backup (the notifier, before a heal).',
    producers: ['notifier'],
    consumers: ['backup-orchestrator'],
    schema: backupRequestSchema as Schema,
    key: (v) => v.agentId,
    keyAttribute: 'vigil.agent.id',
    partitions: 6,
    config: { 'retention.ms': String(7 * DAY_MS) },
  }),
  /** The orchestrator's verdicts: the notifier alerts and resolves on these, never on the agent's claims. */
  backupVerified: topic<BackupVerified>({
    name: 'vigil.backup.verified',
    summary: "The orchestrator's verdict on a backup after reading it back: verified, failed or timed out.",
    producers: ['backup-orchestrator'],
    consumers: ['notifier', 'any consumer'],
    schema: backupVerifiedSchema as Schema,
    key: (v) => v.agentId,
    keyAttribute: 'vigil.agent.id',
    partitions: 6,
    config: { 'retention.ms': String(30 * DAY_MS) },
  }),
  /** Restore plan steps for agents (their host's supervisor runs them). */
  restoreCommands: topic<RestoreCommand>({
    name: 'vigil.restore.commands',
    summary: 'One step of a restore plan: restore this chain of archives into place (or a target directory).',
    producers: ['backup-orchestrator'],
    consumers: ['agent supervisor'],
    schema: restoreCommandSchema as Schema,
    key: (v) => v.agentId,
    keyAttribute: 'vigil.agent.id',
    partitions: 6,
    config: { 'retention.ms': String(7 * DAY_MS) },
  }),
  restoreResults: topic<RestoreResult>({
    name: 'vigil.restore.results',
    summary: 'How a restore step went: running, succeeded (bytes, files) or failed (why).',
    producers: ['agent supervisor'],
    consumers: ['backup-orchestrator'],
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

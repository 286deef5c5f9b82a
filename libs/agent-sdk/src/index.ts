// Public API of @vigil/agent-sdk: what an agent author embeds.
export {
  AgentPublisher,
  type AgentPublisherOptions,
  type PublishReceipt,
  type PublisherStats,
} from './agent-publisher';
export { AgentConnection, type AgentConnectionOptions } from './connection';
export { type HeartbeatReport, type HeartbeatSettings } from './heartbeat-sender';
export {
  AgentSupervisor,
  type AgentSupervisorOptions,
  type CommandHandlers,
  type HealOutcome,
  type SupervisorStats,
} from './agent-supervisor';
export { BackupRunner, type BackupRunnerOptions } from './backup-runner';
export { RestoreRunner, type RestoreRunnerOptions } from './restore-runner';
export {
  FileSystemStore,
  S3Store,
  type S3StoreOptions,
  type BackupStore,
  type Manifest,
  type ManifestEntry,
} from '@vigil/backup';
export { agentMetricsText } from './metrics-text';

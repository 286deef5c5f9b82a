// Public API of @vigil/agent-sdk: what an agent author embeds.
export {
  AgentPublisher,
  AgentConnection,
  type HeartbeatReport,
  type AgentPublisherOptions,
  type PublishReceipt,
  type PublisherStats,
} from './agent-publisher';

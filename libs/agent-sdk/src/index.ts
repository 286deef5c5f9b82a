// Public API of @vigil/agent-sdk: what an agent author embeds.
export {
  AgentPublisher,
  type AgentPublisherOptions,
  type PublishReceipt,
  type PublisherStats,
} from './agent-publisher';

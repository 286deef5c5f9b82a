// Public API of @vigil/events: the contract between Vigil's services, its agents and other systems.
// Types, Avro schemas, the topic catalogue, record header names, validation and the registry wire
// format; no Kafka client and no service framework, so anything can depend on it.
export * from './types';
export {
  Topics,
  allTopics,
  topicByName,
  type Party,
  type TopicDef,
  type TopicKey,
  type ValueValidator,
} from './topics';
export { RecordHeaderNames } from './headers';
export { validateStateChange, validateHeartbeat, MAX_FUTURE_SKEW_MS } from './validation';
export {
  SchemaCodec,
  EventValidationError,
  SchemaIncompatibleError,
  type DecodeOutcome,
  type SchemaCodecOptions,
  type Compatibility,
} from './codec';
export * from './samples';

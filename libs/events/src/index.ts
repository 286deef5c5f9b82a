// Public API of @vigil/events: the only contract between Vigil's services and with the outside.
export * from './types';
export { Topics, allTopics, topicByName, type TopicDef, type TopicKey, type ValueValidator } from './topics';
export { validateStateChange, validateHeartbeat, MAX_FUTURE_SKEW_MS } from './validation';
export { SchemaCodec, EventValidationError, type DecodeOutcome, type SchemaCodecOptions } from './codec';
export {
  createKafkaClient,
  parseBrokers,
  type KafkaClient,
  type KafkaClientOptions,
  type KafkaAdmin,
} from './kafka-client';
export { ensureTopics, type EnsureTopicsResult } from './ensure-topics';
export { readPartitionRanges, highWatermarks, type PartitionRange } from './read-partition';
export {
  EventProducer,
  chunkBySize,
  type OutgoingRecord,
  type RawRecord,
  type EventProducerOptions,
  type SendMetadata,
} from './producer';
export {
  ConsumerRunner,
  type ConsumedRecord,
  type BatchHandler,
  type BatchInfo,
  type HandlerResult,
  type Subscription,
  type GroupListener,
  type ConsumerRunnerOptions,
} from './consumer-runner';
export { injectTraceContext, extractTraceContext, eventsTracer, type RecordHeaders } from './tracing';
export { createEventsMetrics, type EventsMetrics } from './metrics';
export { stderrLogger, type EventsLogger } from './logger';
export { KafkaEventTransport, KafkaBatchContext, type KafkaEventTransportOptions } from './nest/kafka-event-transport';
export * as testing from './testing';
export * from './samples';

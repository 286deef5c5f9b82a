// Public API of @vigil/kafka: the Kafka runtime under Vigil's contract. The one place that imports
// the Kafka client (KafkaJS today): swapping it for a maintained client with a KafkaJS-compatible API
// is a change in this lib and nowhere else. Test helpers are not here: they are `@vigil/kafka/testing`.
export {
  createKafkaClient,
  parseBrokers,
  type KafkaClient,
  type KafkaClientOptions,
  type KafkaMessage,
} from './kafka-client';
export { PartitionProducers } from './partition-producers';
export { ensureTopics, type EnsureTopicsResult } from './ensure-topics';
export { readPartitionRanges, highWatermarks, type PartitionRange } from './read-partition';
export { KafkaAdminFacade, type PartitionOffsets } from './admin';
export { CoalescedSends } from './coalesced-sends';
export { groupBy } from './group-by';
export { fitDeadLetter, DEFAULT_MAX_LETTER_BYTES } from './dead-letter-writer';
export { withRetries, isRetriableKafkaError } from './retries';
export {
  EventProducer,
  chunkBySize,
  partitionOfKey,
  type OutgoingRecord,
  type RawRecord,
  type EventProducerOptions,
  type SendMetadata,
} from './producer';
export {
  ConsumerRunner,
  PartitionNotReady,
  type ConsumedRecord,
  type BatchHandler,
  type BatchInfo,
  type HandlerResult,
  type Subscription,
  type GroupListener,
  type ConsumerRunnerOptions,
} from './consumer-runner';
export {
  injectTraceContext,
  extractTraceContext,
  eventsTracer,
  inBatchSpan,
  inLinkedSpan,
  failSpan,
  traceparentOf,
  startCausedBySilence,
  SAMPLING_PRIORITY,
  type RecordHeaders,
  type TraceContext,
} from './tracing';
export { type EventsMetrics, type CounterLike, type GaugeLike, type HistogramLike } from './metrics';
export { stderrLogger, silentLogger, type EventsLogger } from './logger';
export { kafkaSecurityFromEnv, registryAuthFromEnv, secretFromEnv, type KafkaSecurity } from './security';
export { rightsOf, aclEntries, grantRights, type Right } from './acls';

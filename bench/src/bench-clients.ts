import { SchemaCodec } from '@vigil/events';
import { createKafkaClient, EventProducer, parseBrokers } from '@vigil/kafka';
import { errorsToStderr } from '@vigil/test-kit';

export type BenchKafka = ReturnType<typeof createKafkaClient>;

/** The broker list the services read (infra/up.sh writes it to .vigil/infra.env), or the local default. */
export const brokers = (): string => process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
export const registryUrl = (): string => process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7';
export const redisUrl = (): string => process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * A bench's Kafka client, schema codec and event producer (not yet connected), on the same infra as
 * the services it measures. Only errors are logged: a bench's output is its figures.
 */
export function benchClients(clientId: string): { kafka: BenchKafka; codec: SchemaCodec; producer: EventProducer } {
  const kafka = createKafkaClient({ brokers: parseBrokers(brokers()), clientId, logger: errorsToStderr });
  const codec = new SchemaCodec({ registryUrl: registryUrl() });
  return { kafka, codec, producer: new EventProducer(kafka, codec) };
}

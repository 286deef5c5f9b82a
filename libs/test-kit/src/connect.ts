import { SchemaCodec } from '@vigil/events';
import { createKafkaClient, EventProducer, type KafkaClient } from '@vigil/kafka';
import { infraEnv, type InfraEnv } from '@vigil/kafka/testing';
import { silentLogger } from './loggers';

export interface InfraConnection {
  env: InfraEnv;
  kafka: KafkaClient;
  codec: SchemaCodec;
  producer: EventProducer;
  /** Disconnects the producer, bounded: a test's after() must not hang on a broker that went away. */
  close(): Promise<void>;
}

/** A Kafka client, codec and producer on the infra of .vigil/infra.env (or the env's KAFKA_BROKERS...). */
export function connectToInfra(clientId: string): InfraConnection {
  const env = infraEnv();
  const kafka = createKafkaClient({ brokers: env.brokers, clientId, logger: silentLogger });
  const codec = new SchemaCodec({ registryUrl: env.registryUrl });
  const producer = new EventProducer(kafka, codec);
  return {
    env,
    kafka,
    codec,
    producer,
    close: () =>
      Promise.race([
        producer.disconnect().catch(() => undefined),
        new Promise<void>((r) => setTimeout(r, 10000).unref()),
      ]),
  };
}

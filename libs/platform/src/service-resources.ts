import { readFileSync } from 'node:fs';
import { SchemaCodec } from '@vigil/events';
import {
  createKafkaClient,
  kafkaSecurityFromEnv,
  EventProducer,
  KafkaAdminFacade,
  parseBrokers,
  type EventsMetrics,
  type KafkaClient,
} from '@vigil/kafka';
import { createEventsMetrics } from './events-metrics';
import type Redis from 'ioredis';
import type { RedisOptions } from 'ioredis';
import { createRedisClient } from './redis-client';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { BaseConfig } from './config';
import { GroupMembership } from './group-membership';
import { HealthRegistry } from './health';
import type { Logger } from './logger';

/**
 * The connections one service process holds: built once at bootstrap, shared by the Nest providers
 * and the Kafka transport, closed once at shutdown.
 */
export class ServiceResources {
  readonly metrics = new Registry();
  readonly eventsMetrics: EventsMetrics;
  readonly health = new HealthRegistry();
  readonly kafka: KafkaClient;
  readonly admin: KafkaAdminFacade;
  readonly codec: SchemaCodec;
  readonly producer: EventProducer;
  readonly redis: Redis;
  /** The Kafka transport's group events, for providers with per-partition state. */
  readonly membership = new GroupMembership();

  constructor(
    readonly config: BaseConfig,
    readonly logger: Logger,
  ) {
    this.metrics.setDefaultLabels({ service: config.SERVICE_NAME });
    collectDefaultMetrics({ register: this.metrics });
    this.eventsMetrics = createEventsMetrics(this.metrics);
    this.kafka = createKafkaClient({
      brokers: parseBrokers(config.KAFKA_BROKERS),
      clientId: config.SERVICE_NAME,
      logger: logger.child({ component: 'kafka' }),
      // Validated when the config was loaded.
      security: kafkaSecurityFromEnv(config as unknown as NodeJS.ProcessEnv),
      // A right this service lacks is a deployment error that no retry mends: stop and say so.
      onAuthorizationError: (error) => {
        logger.fatal(
          { err: error, principal: config.KAFKA_SASL_USERNAME ?? 'ANONYMOUS' },
          "Kafka refused this service's principal a right it needs; grant it (README: Security) and restart. Exiting",
        );
        process.exit(1);
      },
    });
    this.admin = new KafkaAdminFacade(this.kafka);
    this.codec = new SchemaCodec({
      registryUrl: config.SCHEMA_REGISTRY_URL,
      compatibility: config.SCHEMA_COMPATIBILITY,
      auth:
        config.SCHEMA_REGISTRY_USERNAME && config.SCHEMA_REGISTRY_PASSWORD
          ? { username: config.SCHEMA_REGISTRY_USERNAME, password: config.SCHEMA_REGISTRY_PASSWORD }
          : undefined,
    });
    this.producer = new EventProducer(this.kafka, this.codec, { metrics: this.eventsMetrics });
    // lazyConnect: the first command connects; offline queueing stays on so a Redis restart
    // delays commands instead of failing them, and maxRetriesPerRequest bounds that delay.
    this.redis = createRedisClient(config.REDIS_URL, {
      lazyConnect: true,
      maxRetriesPerRequest: 20,
      ...redisSecurity(config),
    });
    // The last connection error, so readiness can say why Redis is not there (a wrong password is
    // otherwise just a ping that never answers).
    let redisError: string | undefined;
    this.redis.on('error', (e: Error) => {
      redisError = e.message;
      logger.warn({ err: e.message }, 'redis connection error');
    });
    this.redis.on('ready', () => (redisError = undefined));

    this.health.register('kafka', async () => void (await this.admin.clusterId()));
    this.health.register('schema-registry', () => this.codec.ping());
    this.health.register('redis', async () => {
      if (this.redis.status !== 'ready' && redisError) throw new Error(`not connected: ${redisError}`);
      if ((await this.redis.ping()) !== 'PONG') throw new Error('redis did not answer PONG');
    });
  }

  async close(): Promise<void> {
    await this.producer
      .disconnect()
      .catch((e: Error) => this.logger.warn({ err: e.message }, 'producer disconnect failed'));
    await this.admin.close();
    this.redis.disconnect();
  }
}

/** ioredis options for AUTH and TLS: the password (and ACL user) from config, a CA of one's own for rediss://. */
function redisSecurity(config: BaseConfig): RedisOptions {
  const tls = config.REDIS_URL.startsWith('rediss:');
  return {
    ...(config.REDIS_USERNAME ? { username: config.REDIS_USERNAME } : {}),
    ...(config.REDIS_PASSWORD ? { password: config.REDIS_PASSWORD } : {}),
    ...(tls ? { tls: config.REDIS_TLS_CA_FILE ? { ca: [readFileSync(config.REDIS_TLS_CA_FILE, 'utf8')] } : {} } : {}),
  };
}

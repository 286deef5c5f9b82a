import 'reflect-metadata';
import { Module, type DynamicModule, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { allTopics } from '@vigil/events';
import { ensureTopics, withRetries } from '@vigil/kafka';
import { KafkaEventTransport } from './kafka-event-transport';
import type { z } from 'zod';
import { baseConfigSchema, loadConfig, type BaseConfig } from './config';
import { printServiceHelp } from './help';
import { createLogger, NestPinoLogger } from './logger';
import { PlatformModule } from './platform.module';
import { ServiceResources } from './service-resources';
import { startTracing } from './tracing';

export interface ServiceDefinition<S extends z.ZodTypeAny> {
  /** Also the default consumer group and OTel service.name. */
  name: string;
  /** One line for --help. */
  summary?: string;
  defaultPort: number;
  /** The service's own Nest module (its handlers, providers, controllers). */
  module: Type<unknown> | DynamicModule;
  /** The service's config schema, extending baseConfigSchema. */
  configSchema?: S;
  /** Consume Kafka through KafkaEventTransport with this group id (or one read from the config); omit for HTTP-only services. */
  consumerGroup?: string | ((config: z.infer<S>) => string);
  /** How the service's consumer commits, where it differs from one commit per batch. */
  consumerOptions?: (config: z.infer<S>) => { commitIntervalMs?: number };
}

export interface RunningService {
  config: BaseConfig;
  resources: ServiceResources;
  port: number;
  close(): Promise<void>;
}

/**
 * Starts a Vigil service: config from env (validated), tracing, structured logs, the catalogue's
 * topics, HTTP (health, metrics and the service's own routes), the Kafka transport, and a graceful
 * shutdown on SIGTERM/SIGINT that stops consuming first and gives up after SHUTDOWN_TIMEOUT_MS.
 */
export async function runService<S extends z.ZodTypeAny>(def: ServiceDefinition<S>): Promise<RunningService> {
  const config = loadConfig(def.configSchema ?? baseConfigSchema, {
    SERVICE_NAME: def.name,
    HTTP_PORT: def.defaultPort,
  }) as BaseConfig & z.infer<S>;
  const tracing = startTracing({ serviceName: config.SERVICE_NAME });
  const logger = createLogger(config.SERVICE_NAME, config.LOG_LEVEL);
  const resources = new ServiceResources(config, logger);

  // A broker killed or restarting while we start (a rolling restart, a failover) is waited out, not
  // fatal: ensureTopics is idempotent, so it is simply asked again with fresh connections.
  await withRetries(
    'ensuring the topics',
    () => ensureTopics(resources.kafka, undefined, logger.child({ component: 'topics' })),
    {
      timeoutMs: 60_000,
      lostConnections: true,
      beforeRetry: async () => logger.warn('Kafka not settled while starting (a broker away or moving); trying again'),
    },
  );
  // Every schema of the catalogue, inputs included: a producer in another language needs only the
  // registry, and a schema the registry refuses stops the start with the registry's reason.
  await resources.codec.registerAll(allTopics());

  @Module({ imports: [PlatformModule.forRoot(resources), def.module] })
  class ServiceRootModule {}

  const app = await NestFactory.create(ServiceRootModule, { logger: new NestPinoLogger(logger) });
  const consumerGroup = typeof def.consumerGroup === 'function' ? def.consumerGroup(config) : def.consumerGroup;
  if (consumerGroup) {
    app.connectMicroservice(
      {
        strategy: new KafkaEventTransport({
          kafka: resources.kafka,
          codec: resources.codec,
          producer: resources.producer,
          groupId: consumerGroup,
          logger: logger.child({ component: 'consumer' }),
          metrics: resources.eventsMetrics,
          partitionsConsumedConcurrently: config.CONSUMER_CONCURRENCY,
          group: resources.membership,
          maxBytesPerPartition: config.CONSUMER_MAX_BYTES_PER_PARTITION,
          maxBytes: config.CONSUMER_MAX_BYTES,
          ...def.consumerOptions?.(config),
        }),
      },
      { inheritAppConfig: true },
    );
  }
  await app.startAllMicroservices();
  await app.listen(config.HTTP_PORT, config.HTTP_HOST);
  const port = Number(new URL(await app.getUrl()).port);
  logger.info({ port, consumerGroup }, `${config.SERVICE_NAME} started`);

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      await app.close();
      await tracing.shutdown().catch(() => undefined);
    })());

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      logger.info({ signal }, 'shutting down');
      // Readiness turns 503 at once: load balancers and orchestrators stop sending before we stop serving.
      resources.health.hold('shutting down');
      setTimeout(() => {
        logger.error({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'shutdown timed out, exiting');
        process.exit(1);
      }, config.SHUTDOWN_TIMEOUT_MS).unref();
      close().then(
        () => process.exit(0),
        (e: Error) => {
          logger.error({ err: e.message }, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }
  return { config, resources, port, close };
}

/** A service's entry point: `--help` prints its settings, anything else runs it; a failed start exits 1. */
export function serviceMain<S extends z.ZodTypeAny>(def: ServiceDefinition<S>, argv: string[] = process.argv): void {
  if (argv.includes('--help') || argv.includes('-h')) {
    printServiceHelp(def);
    return;
  }
  runService(def).catch((e: Error) => {
    // The stack too: "ECONNREFUSED" alone does not say which step of the start needed which broker.
    process.stderr.write(`${def.name} failed to start: ${e.stack ?? e.message}\n`);
    process.exit(1);
  });
}

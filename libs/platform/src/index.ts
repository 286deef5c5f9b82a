// Public API of @vigil/platform: what every Vigil service shares.
export { baseConfigSchema, loadConfig, ConfigError, type BaseConfig } from './config';
export { createLogger, NestPinoLogger, type Logger } from './logger';
export { HealthRegistry, type HealthCheck, type HealthReport, type RestoreProgress } from './health';
export { startTracing, type TracingOptions } from './tracing';
export { tracingRequested, vigilInstrumentations } from './instrumentations';
export { PrioritySampler, samplerFromEnv } from './priority-sampler';
export { ServiceResources } from './service-resources';
export {
  createRedisClient,
  execByHashTag,
  parseRedisTarget,
  type RedisTarget,
  type SlottedCommand,
} from './redis-client';
export { GroupMembership } from './group-membership';
export { PlatformModule, HealthController, MetricsController } from './platform.module';
export { runService, serviceMain, type ServiceDefinition, type RunningService } from './bootstrap';
export * from './tokens';
export { printServiceHelp } from './help';
export {
  KafkaEventTransport,
  KafkaBatchContext,
  HandlerErrorsPassThrough,
  type KafkaEventTransportOptions,
} from './kafka-event-transport';
export { createEventsMetrics } from './events-metrics';
export { zeroed } from './zeroed';

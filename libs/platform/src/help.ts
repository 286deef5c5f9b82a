import { z } from 'zod';
import { baseConfigSchema } from './config';

interface HelpTarget {
  name: string;
  summary?: string;
  defaultPort: number;
  configSchema?: z.ZodTypeAny;
}

// Why each base variable exists, for --help; a service's own variables carry .describe() texts.
const BASE_HELP: Record<string, string> = {
  SERVICE_NAME: 'name in logs, metrics and traces',
  HTTP_PORT: 'port of /health, /metrics and the service API (on 127.0.0.1)',
  KAFKA_BROKERS: 'comma-separated host:port list',
  SCHEMA_REGISTRY_URL: 'Confluent-compatible registry API base URL',
  REDIS_URL: 'redis://host:port[/db], rediss:// for TLS, redis://host:port,host:port,... for a Redis Cluster',
  KAFKA_SASL_MECHANISM: 'SASL to Kafka: plain|scram-sha-256|scram-sha-512 (with KAFKA_SASL_USERNAME and _PASSWORD)',
  KAFKA_SASL_PASSWORD: 'secret: or KAFKA_SASL_PASSWORD_FILE, a file holding it',
  KAFKA_TLS: 'TLS to Kafka (KAFKA_TLS_CA_FILE: a CA of your own, PEM)',
  SCHEMA_REGISTRY_PASSWORD: 'secret, basic auth with SCHEMA_REGISTRY_USERNAME: or SCHEMA_REGISTRY_PASSWORD_FILE',
  REDIS_PASSWORD: 'secret (AUTH, with REDIS_USERNAME for an ACL user): or REDIS_PASSWORD_FILE',
  REDIS_TLS_CA_FILE: 'a CA of your own (PEM) for rediss://',
  LOG_LEVEL: 'trace|debug|info|warn|error|fatal|silent',
  OTEL_EXPORTER_OTLP_ENDPOINT:
    'OTLP endpoint for traces (otlp exporter); the standard OTEL_* variables apply: OTEL_TRACES_EXPORTER=otlp|zipkin|console|none, OTEL_EXPORTER_ZIPKIN_ENDPOINT, OTEL_TRACES_SAMPLER(_ARG); none set = tracing off',
  SHUTDOWN_TIMEOUT_MS: 'longest graceful shutdown before a forced exit',
  CONSUMER_CONCURRENCY: 'partitions handled at once (order holds within each)',
  CONSUMER_MAX_BYTES_PER_PARTITION: 'bytes fetched per partition per request',
  CONSUMER_MAX_BYTES:
    'bytes of one fetch over all partitions (unset: 12 partitions worth): what a consumer under backlog holds in memory',
};

function describeDefault(field: z.ZodTypeAny, fallback?: string | number): string {
  if (fallback !== undefined) return String(fallback);
  if (field instanceof z.ZodDefault) return String(field._def.defaultValue());
  if (field instanceof z.ZodOptional) return '(unset)';
  return '(required)';
}

/** Prints what the service is and every environment variable it reads, with its default. */
export function printServiceHelp(target: HelpTarget): void {
  const schema = (target.configSchema ?? baseConfigSchema) as z.AnyZodObject;
  const defaults: Record<string, string | number> = { SERVICE_NAME: target.name, HTTP_PORT: target.defaultPort };
  const lines = [
    `vigil-${target.name}: ${target.summary ?? ''}`.trimEnd(),
    '',
    'Usage: node dist/main.js   (configured by environment; SIGTERM or SIGINT shuts down gracefully)',
    '',
    'Environment:',
  ];
  for (const [key, field] of Object.entries(schema.shape as Record<string, z.ZodTypeAny>)) {
    // A service's own description of a shared variable (e.g. a default of its own) wins over the shared one.
    const text = field.description ?? BASE_HELP[key] ?? '';
    lines.push(`  ${key.padEnd(30)} default ${describeDefault(field, defaults[key]).padEnd(40)} ${text}`);
  }
  lines.push('', 'HTTP: GET /health/live, GET /health/ready, GET /metrics');
  process.stdout.write(`${lines.join('\n')}\n`);
}

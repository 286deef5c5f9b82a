import { kafkaSecurityFromEnv, secretFromEnv } from '@vigil/kafka';
import { z } from 'zod';
import { parseRedisTarget } from './redis-client';

/** Settings every service reads; a service extends this with its own. */
export const baseConfigSchema = z.object({
  SERVICE_NAME: z.string().min(1),
  HTTP_PORT: z.coerce.number().int().min(0).max(65535),
  /** Where HTTP listens: 127.0.0.1 for local runs; 0.0.0.0 in a container, so probes and Prometheus reach it. */
  HTTP_HOST: z.string().min(1).default('127.0.0.1'),
  KAFKA_BROKERS: z.string().min(1).default('127.0.0.1:9092'),
  SCHEMA_REGISTRY_URL: z.string().url().default('http://127.0.0.1:8081/apis/ccompat/v7'),
  /** The level set on registry subjects this service creates; existing subjects keep their owners' level. */
  SCHEMA_COMPATIBILITY: z
    .enum(['NONE', 'BACKWARD', 'BACKWARD_TRANSITIVE', 'FORWARD', 'FORWARD_TRANSITIVE', 'FULL', 'FULL_TRANSITIVE'])
    .default('FULL_TRANSITIVE'),
  /** SASL to Kafka: plain, scram-sha-256 or scram-sha-512, with a username and password. */
  KAFKA_SASL_MECHANISM: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional(),
  KAFKA_SASL_USERNAME: z.string().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  /** TLS to Kafka (true, or a CA file of one's own). */
  KAFKA_TLS: z.enum(['true', 'false']).default('false'),
  KAFKA_TLS_CA_FILE: z.string().min(1).optional(),
  SCHEMA_REGISTRY_USERNAME: z.string().min(1).optional(),
  SCHEMA_REGISTRY_PASSWORD: z.string().min(1).optional(),
  /** redis://host:port[/db], rediss:// for TLS, or redis://host:port,host:port,... for a Redis Cluster. */
  REDIS_URL: z
    .string()
    .default('redis://127.0.0.1:6379')
    .superRefine((url, ctx) => {
      try {
        parseRedisTarget(url);
      } catch (e) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: (e as Error).message });
      }
    }),
  REDIS_USERNAME: z.string().min(1).optional(),
  REDIS_PASSWORD: z.string().min(1).optional(),
  /** A CA of one's own (PEM) for rediss://. */
  REDIS_TLS_CA_FILE: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  /** When set, spans are exported over OTLP/HTTP to this endpoint (e.g. http://127.0.0.1:4318). */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().optional(),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(100).default(10000),
  /** Partitions whose batches are handled at the same time (order still holds within a partition). */
  CONSUMER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(12),
  /** Bytes fetched per partition per request: smaller keeps fewer records in memory at once. */
  CONSUMER_MAX_BYTES_PER_PARTITION: z.coerce
    .number()
    .int()
    .min(16 * 1024)
    .default(1024 * 1024),
  /**
   * Bytes of one fetch over all partitions; unset, 12 partitions' worth. Everything fetched is in
   * memory until handled and the next fetch waits for it: the memory bound of a consumer under backlog.
   */
  CONSUMER_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(16 * 1024)
    .optional(),
});

export type BaseConfig = z.infer<typeof baseConfigSchema>;

/** A config error names every bad variable and why, so one run tells the operator everything. */
export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid configuration:\n  ${issues.join('\n  ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Reads config from the environment with validated defaults. `defaults` are per service (its name,
 * its port); the environment wins over them.
 */
export function loadConfig<S extends z.ZodTypeAny>(
  schema: S,
  defaults: Record<string, string | number> = {},
  env: NodeJS.ProcessEnv = process.env,
): z.infer<S> {
  const merged: Record<string, unknown> = { ...defaults };
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v !== '') merged[k] = v;
  const issues: string[] = [];
  // Secrets from the variable or from the file its _FILE twin names (a mounted secret).
  for (const key of SECRETS) {
    try {
      const secret = secretFromEnv(key, env);
      if (secret !== undefined) merged[key] = secret;
    } catch (e) {
      issues.push((e as Error).message);
    }
  }
  const parsed = schema.safeParse(merged);
  if (!parsed.success) {
    issues.push(...parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
  } else if ('KAFKA_TLS' in parsed.data) {
    try {
      kafkaSecurityFromEnv(parsed.data as NodeJS.ProcessEnv);
    } catch (e) {
      issues.push((e as Error).message);
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return parsed.data;
}

/** The variables that hold secrets: each may come from a file (`<NAME>_FILE`), none is ever logged. */
export const SECRETS = ['KAFKA_SASL_PASSWORD', 'SCHEMA_REGISTRY_PASSWORD', 'REDIS_PASSWORD'] as const;

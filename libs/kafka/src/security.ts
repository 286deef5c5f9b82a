import { readFileSync } from 'node:fs';
import type { SASLOptions } from 'kafkajs';

/** How a client authenticates to Kafka and whether it talks TLS; nothing set means PLAINTEXT. */
export interface KafkaSecurity {
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
  /** TLS to the brokers: true for the system's CAs, or the CA certificates (PEM) to trust. */
  tls?: true | { ca: string[] };
}

const MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;

/**
 * A secret from `NAME` or from the file `NAME_FILE` names (trailing newline dropped), never both:
 * secrets come from the environment or from mounted files, never from the command line.
 */
export function secretFromEnv(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const direct = env[name];
  const file = env[`${name}_FILE`];
  if (direct && file) throw new Error(`${name} and ${name}_FILE are both set: set one`);
  if (!file) return direct || undefined;
  try {
    return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (e) {
    throw new Error(
      `${name}_FILE=${file} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
}

/**
 * Kafka security from the environment: KAFKA_SASL_MECHANISM (plain, scram-sha-256, scram-sha-512)
 * with KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE); KAFKA_TLS=true for
 * TLS, KAFKA_TLS_CA_FILE for a CA of one's own (PEM). Throws with the variable to fix.
 */
/** HTTP basic auth to the schema registry from SCHEMA_REGISTRY_USERNAME and _PASSWORD (or _PASSWORD_FILE). */
export function registryAuthFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): { username: string; password: string } | undefined {
  const username = env.SCHEMA_REGISTRY_USERNAME;
  const password = secretFromEnv('SCHEMA_REGISTRY_PASSWORD', env);
  return username && password ? { username, password } : undefined;
}

export function kafkaSecurityFromEnv(env: NodeJS.ProcessEnv = process.env): KafkaSecurity {
  const out: KafkaSecurity = {};
  const mechanism = env.KAFKA_SASL_MECHANISM?.toLowerCase();
  if (mechanism) {
    if (!(MECHANISMS as readonly string[]).includes(mechanism))
      throw new Error(`KAFKA_SASL_MECHANISM=${env.KAFKA_SASL_MECHANISM}: one of ${MECHANISMS.join(', ')} is expected`);
    const username = env.KAFKA_SASL_USERNAME;
    const password = secretFromEnv('KAFKA_SASL_PASSWORD', env);
    if (!username || !password)
      throw new Error('KAFKA_SASL_MECHANISM is set: KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (or _FILE) are needed');
    out.sasl = { mechanism: mechanism as (typeof MECHANISMS)[number], username, password };
  }
  const caFile = env.KAFKA_TLS_CA_FILE;
  if (env.KAFKA_TLS === 'true' || caFile) {
    if (caFile) {
      try {
        out.tls = { ca: [readFileSync(caFile, 'utf8')] };
      } catch (e) {
        throw new Error(`KAFKA_TLS_CA_FILE=${caFile} cannot be read: ${(e as NodeJS.ErrnoException).code}`);
      }
    } else out.tls = true;
  } else if (env.KAFKA_TLS && env.KAFKA_TLS !== 'false') {
    throw new Error(`KAFKA_TLS=${env.KAFKA_TLS}: true or false is expected`);
  }
  return out;
}

/** KafkaJS's connection options for it. */
export function kafkaJsSecurity(security: KafkaSecurity | undefined): {
  sasl?: SASLOptions;
  ssl?: boolean | { ca: string[] };
} {
  return {
    ...(security?.sasl ? { sasl: security.sasl as SASLOptions } : {}),
    ...(security?.tls ? { ssl: security.tls } : {}),
  };
}

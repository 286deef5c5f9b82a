/** Where the CLI finds a running Vigil; every address from the environment, with local defaults. */
export interface Endpoints {
  heartbeat: string;
  stateSync: string;
  backups: string;
  notifier: string;
  /** Zipkin's base URL (its UI is under /zipkin/). */
  zipkin: string;
  kafkaBrokers: string;
  registryUrl: string;
}

/** Each variable, its default and what it names: `vigil --help` prints this table. */
export const ENDPOINT_VARIABLES = [
  ['heartbeat', 'VIGIL_HEARTBEAT_URL', 'http://127.0.0.1:3001', 'heartbeat service (fleet view)'],
  ['stateSync', 'VIGIL_STATE_SYNC_URL', 'http://127.0.0.1:3002', 'state-sync (entities)'],
  ['backups', 'VIGIL_BACKUP_URL', 'http://127.0.0.1:3003', 'backup-orchestrator (backups, restores)'],
  ['notifier', 'VIGIL_NOTIFIER_URL', 'http://127.0.0.1:3004', 'notifier (alerts, silences, heals)'],
  ['zipkin', 'ZIPKIN_URL', 'http://127.0.0.1:9411', 'trace backend'],
] as const;

export class ConfigError extends Error {}

function url(name: string, value: string): string {
  try {
    const u = new URL(value);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new ConfigError(`${name}="${value}" is not an http(s) URL`);
  }
  return value.replace(/\/+$/, '');
}

export function endpointsFromEnv(env: NodeJS.ProcessEnv = process.env): Endpoints {
  const out: Record<string, string> = {};
  for (const [key, name, fallback] of ENDPOINT_VARIABLES) out[key] = url(name, env[name] || fallback);
  return {
    ...(out as Omit<Endpoints, 'kafkaBrokers' | 'registryUrl'>),
    kafkaBrokers: env.KAFKA_BROKERS || '127.0.0.1:9092',
    registryUrl: url('SCHEMA_REGISTRY_URL', env.SCHEMA_REGISTRY_URL || 'http://127.0.0.1:8081/apis/ccompat/v7'),
  };
}

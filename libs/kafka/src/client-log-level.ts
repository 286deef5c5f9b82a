import { logLevel } from 'kafkajs';

// KafkaJS' own table of broker error codes, each marked retriable or not. It is not in the
// package's typed API, but KafkaJS 2.x is frozen and the table is what its retry logic reads.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { errorCodes } = require('kafkajs/src/protocol/error') as {
  errorCodes: Array<{ type: string; message: string; retriable: boolean }>;
};

/** Messages of the broker errors KafkaJS retries by itself (a coordinator loading, a leader moving). */
const RETRIED = new Set(errorCodes.filter((e) => e.retriable).map((e) => e.message));

export type LevelName = 'error' | 'warn' | 'info' | 'debug';

const named: Record<number, LevelName> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

/**
 * The level a KafkaJS log line deserves. KafkaJS logs at ERROR what it then retries by itself:
 * every response carrying a retriable broker error ("The coordinator is loading", right after a
 * broker starts) and each reconnect attempt. Those are routine, so they go out at debug and warn;
 * what KafkaJS gives up on still reaches us as a thrown error, logged by whoever called it.
 */
export function clientLogLevel(level: number, log: Record<string, unknown>): LevelName {
  const name = named[level] ?? 'info';
  if (name !== 'error') return name;
  if (typeof log.error === 'string' && RETRIED.has(log.error)) return 'debug';
  if (typeof log.retryCount === 'number') return 'warn';
  return name;
}

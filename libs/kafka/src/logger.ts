/** The logging surface this lib needs; a pino logger satisfies it, and so does console. */
export interface EventsLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const write = (level: string) => (obj: object, msg?: string) =>
  process.stderr.write(`${JSON.stringify({ level, time: Date.now(), lib: '@vigil/events', msg, ...obj })}\n`);

/** Structured JSON lines on stderr; debug is dropped unless VIGIL_EVENTS_DEBUG is set. */
export const stderrLogger: EventsLogger = {
  debug: process.env.VIGIL_EVENTS_DEBUG ? write('debug') : () => undefined,
  info: write('info'),
  warn: write('warn'),
  error: write('error'),
};

/** Drops everything: for hosts that log nothing of Vigil's, and for tests that assert on outcomes. */
export const silentLogger: EventsLogger = { debug() {}, info() {}, warn() {}, error() {} };

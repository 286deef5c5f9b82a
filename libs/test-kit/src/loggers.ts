import type { EventsLogger } from '@vigil/kafka';

/** Drops everything: tests assert on outcomes, not on log lines. */
export const silentLogger: EventsLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** Only errors, on stderr: a benchmark's output stays its figures, but failures still show. */
export const errorsToStderr: EventsLogger = { ...silentLogger, error: (o, m) => console.error(m, o) };

import { silentLogger, type EventsLogger } from '@vigil/kafka';

export { silentLogger };

/** Only errors, on stderr: a benchmark's output stays its figures, but failures still show. */
export const errorsToStderr: EventsLogger = { ...silentLogger, error: (o, m) => console.error(m, o) };

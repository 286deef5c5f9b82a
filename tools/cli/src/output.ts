import type { Endpoints } from './endpoints';

/** What a command answers: data for `--json`, text for people, and the exit status. */
export interface Output {
  data: unknown;
  text: string;
  /** 0 unless the command found something wrong (a service not ready); errors throw instead. */
  exitCode?: number;
}

export interface Context {
  endpoints: Endpoints;
  now: () => number;
}

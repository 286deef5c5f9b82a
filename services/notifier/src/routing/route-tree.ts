import { matchesAll, parseMatcher, type Matcher } from './matchers';
import { parseDuration } from './duration';

/** A route as the policy file writes it (Alertmanager's names and inheritance). */
export interface RouteInput {
  receiver?: string;
  group_by?: string[];
  group_wait?: string | number;
  group_interval?: string | number;
  repeat_interval?: string | number;
  matchers?: string[];
  continue?: boolean;
  routes?: RouteInput[];
}

/**
 * A route with everything it inherits resolved. `groupBy` 'all' is Alertmanager's `['...']`: every
 * label, so each alert is a group of its own.
 */
export interface Route {
  /** Where it sits in the tree (`root`, `root.0`, `root.0.2`): part of every group id. */
  id: string;
  receivers: string[];
  groupBy: string[] | 'all';
  groupWaitMs: number;
  groupIntervalMs: number;
  repeatIntervalMs: number;
  matchers: Matcher[];
  continue: boolean;
  routes: Route[];
}

/** Alertmanager's defaults, with Vigil's: group by host (it knows hosts; Alertmanager groups by nothing). */
export const ROUTE_DEFAULTS = {
  group_by: ['host'],
  group_wait: '30s',
  group_interval: '5m',
  repeat_interval: '4h',
} as const;

export class RouteError extends Error {
  constructor(
    /** Where in the route input, e.g. ['routes', 0, 'receiver']. */
    readonly path: Array<string | number>,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Resolves the tree: a child inherits receiver, grouping and timings it does not set. The root
 * without a receiver sends to every receiver of the policy (one group per receiver).
 */
export function compileRoutes(input: RouteInput, receivers: string[]): Route {
  const walk = (r: RouteInput, parent: Route | undefined, id: string, at: Array<string | number>): Route => {
    const duration = (field: 'group_wait' | 'group_interval' | 'repeat_interval', inherited: number) => {
      const v = r[field];
      if (v === undefined) return inherited;
      const ms = parseDuration(v);
      if (ms === undefined) throw new RouteError([...at, field], `"${v}" is not a duration (e.g. 30s, 5m, 4h)`);
      return ms;
    };
    const matchers = (r.matchers ?? []).map((text, i) => {
      const m = parseMatcher(text);
      if (typeof m === 'string') throw new RouteError([...at, 'matchers', i], m);
      return m;
    });
    if (r.receiver !== undefined && !receivers.includes(r.receiver))
      throw new RouteError(
        [...at, 'receiver'],
        `no receiver named "${r.receiver}" (receivers: ${receivers.join(', ') || 'none'})`,
      );
    const groupBy = r.group_by ?? (parent ? parent.groupBy : [...ROUTE_DEFAULTS.group_by]);
    const route: Route = {
      id,
      receivers: r.receiver !== undefined ? [r.receiver] : parent ? parent.receivers : receivers,
      groupBy: Array.isArray(groupBy) && groupBy.includes('...') ? 'all' : groupBy,
      groupWaitMs: duration('group_wait', parent?.groupWaitMs ?? parseDuration(ROUTE_DEFAULTS.group_wait)!),
      groupIntervalMs: duration(
        'group_interval',
        parent?.groupIntervalMs ?? parseDuration(ROUTE_DEFAULTS.group_interval)!,
      ),
      repeatIntervalMs: duration(
        'repeat_interval',
        parent?.repeatIntervalMs ?? parseDuration(ROUTE_DEFAULTS.repeat_interval)!,
      ),
      matchers,
      continue: r.continue ?? false,
      routes: [],
    };
    route.routes = (r.routes ?? []).map((c, i) => walk(c, route, `${id}.${i}`, [...at, 'routes', i]));
    return route;
  };
  return walk(input, undefined, 'root', []);
}

/**
 * The routes an alert goes to, as Alertmanager's Route.Match: depth first, the first matching child
 * takes it unless that child says `continue`; a route none of whose children match takes it itself.
 */
export function routesFor(route: Route, labels: Record<string, string>): Route[] {
  if (!matchesAll(route.matchers, labels)) return [];
  const all: Route[] = [];
  for (const child of route.routes) {
    const matched = routesFor(child, labels);
    all.push(...matched);
    if (matched.length > 0 && !child.continue) break;
  }
  return all.length > 0 ? all : [route];
}

/** The labels that name the alert's group on this route (missing ones are left out). */
export function groupLabelsOf(route: Route, labels: Record<string, string>): Record<string, string> {
  const names = route.groupBy === 'all' ? Object.keys(labels) : route.groupBy;
  const out: Record<string, string> = {};
  for (const n of [...names].sort()) if (labels[n] !== undefined) out[n] = labels[n];
  return out;
}

/** Alertmanager's group key form: `{route}:{label="value",...}`, with the receiver for Vigil's fan-out. */
export function groupKeyOf(route: Route, receiver: string, groupLabels: Record<string, string>): string {
  const ls = Object.entries(groupLabels)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(',');
  return `${route.id}/${receiver}:{${ls}}`;
}

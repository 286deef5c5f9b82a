import { agentColumns, countsLine, STATES } from './commands/fleet';
import type { FeedLine } from './event-feed';
import { ago, table, type Column } from './render';
import type { FleetAgent, FleetPage, ListedAlert } from './views';

/** What one frame of `vigil watch` shows, gathered from the services. */
export interface FleetSnapshot {
  fleet: FleetPage;
  alerts: ListedAlert[];
  /** The newest verified backup of each shown agent (absent: none kept). */
  lastBackup: Map<string, number>;
  /** Services that did not answer this time, with why. */
  problems: string[];
}

const rank = (state: string) => {
  const i = (STATES as readonly string[]).indexOf(state);
  return i < 0 ? STATES.length : i;
};

/** The agents worth the screen: the worst states first, and within one the most recent change first. */
export function worstFirst(agents: readonly FleetAgent[], rows: number): FleetAgent[] {
  return [...agents]
    .sort(
      (a, b) =>
        rank(a.state) - rank(b.state) ||
        Date.parse(b.since) - Date.parse(a.since) ||
        a.agentId.localeCompare(b.agentId),
    )
    .slice(0, rows);
}

/** One screen: counts by state, the status table, open alerts and the event feed. */
export function renderFrame(
  s: FleetSnapshot,
  feed: readonly FeedLine[],
  now: number,
  options: {
    rows: number;
    links: string[];
    /** Verified backups are counted, not listed (see EventFeed). */
    backupsVerified?: { count: number; newest: { agentId: string; at: number } | null };
  },
): string {
  const alertsOf = new Map<string, string[]>();
  for (const a of s.alerts) {
    if (a.state !== 'active' || !a.agentId) continue;
    alertsOf.set(a.agentId, [...(alertsOf.get(a.agentId) ?? []), a.alertName]);
  }
  const base = agentColumns(now).filter(([h]) => h !== 'VERSION' && h !== 'FAILED CHECKS');
  const columns: Column<FleetAgent>[] = [
    ...base,
    ['LAST BACKUP', (a) => ago(s.lastBackup.get(a.agentId) ?? null, now)],
    ['OPEN ALERTS', (a) => alertsOf.get(a.agentId)?.join(',') ?? '-'],
  ];
  const shown = worstFirst(s.fleet.agents, options.rows);
  const active = s.alerts.filter((a) => a.state === 'active').length;
  // Counted from the agents listed, so that a --prefix counts only its own.
  const counts: Record<string, number> = {};
  for (const a of s.fleet.agents) counts[a.state] = (counts[a.state] ?? 0) + 1;
  return [
    `Vigil fleet at ${new Date(now).toISOString().slice(11, 19)} UTC: ${s.fleet.agents.length} agents: ${countsLine(counts)}`,
    `alerts: ${active} active, ${s.alerts.length - active} suppressed`,
    '',
    table(shown, columns),
    shown.length < s.fleet.agents.length ? `... ${s.fleet.agents.length - shown.length} more (healthiest hidden)` : '',
    options.backupsVerified?.newest
      ? `backups verified since the view started: ${options.backupsVerified.count} (newest ${options.backupsVerified.newest.agentId}, ${ago(options.backupsVerified.newest.at, now)})`
      : '',
    'events:',
    ...(feed.length ? feed.map((l) => `  ${new Date(l.at).toISOString().slice(11, 19)}  ${l.text}`) : ['  (none yet)']),
    ...s.problems.map((p) => `! ${p}`),
    '',
    ...options.links,
  ].join('\n');
}

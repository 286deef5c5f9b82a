import { BadRequestException, Controller, Get, Inject, NotFoundException, Param, Query } from '@nestjs/common';
import { Topics } from '@vigil/events';
import { CONFIG } from '@vigil/platform';
import type { HeartbeatConfig } from './config';
import type { Lease } from './detection/lease-table';
import { LeaseStore } from './lease-store';

const STATES = ['starting', 'healthy', 'degraded', 'suspect', 'unreachable'] as const;

interface FleetRow {
  agentId: string;
  /** The heartbeat partition: which instance watches the agent. */
  partition: number;
  host: string;
  state: string;
  since: string;
  lastHeartbeat: string;
  agentVersion: string;
  priorityTier: number;
  labels: Record<string, string>;
  dependencies: string[];
  failedChecks: string[];
  metrics: Record<string, number>;
}

const row = (l: Lease): FleetRow => ({
  agentId: l.agentId,
  partition: l.partition,
  host: l.host,
  state: l.state,
  since: new Date(l.since).toISOString(),
  lastHeartbeat: new Date(l.lastBeatAt).toISOString(),
  agentVersion: l.agentVersion,
  priorityTier: l.priorityTier,
  labels: l.labels,
  dependencies: l.dependencies,
  failedChecks: l.failedChecks,
  metrics: l.metrics,
});

/**
 * The fleet's status table. It reads the leases from Redis, where every heartbeat instance keeps
 * those of its partitions, so any instance shows the whole fleet.
 */
@Controller('fleet')
export class FleetController {
  constructor(
    private readonly store: LeaseStore,
    @Inject(CONFIG) private readonly config: HeartbeatConfig,
  ) {}

  /** GET /fleet?state=unreachable,suspect&prefix=web-&limit=100&format=table */
  @Get()
  async list(
    @Query('state') state?: string,
    @Query('limit') limit?: string,
    @Query('format') format?: string,
    @Query('prefix') prefix?: string,
  ) {
    const wanted = state ? state.split(',').map((s) => s.trim()) : undefined;
    for (const s of wanted ?? []) {
      if (!(STATES as readonly string[]).includes(s))
        throw new BadRequestException(`unknown state "${s}"; one of ${STATES.join(', ')}`);
    }
    const max = limit === undefined ? this.config.FLEET_VIEW_LIMIT : Number(limit);
    if (!Number.isInteger(max) || max < 1) throw new BadRequestException('limit must be a positive integer');
    const leases = await this.store.all(Topics.heartbeats.partitions);
    const counts: Record<string, number> = {};
    for (const l of leases) counts[l.state] = (counts[l.state] ?? 0) + 1;
    const matching = leases
      .filter((l) => (!wanted || wanted.includes(l.state)) && (!prefix || l.agentId.startsWith(prefix)))
      .sort((a, b) => a.agentId.localeCompare(b.agentId));
    const rows = matching.slice(0, max).map(row);
    if (format === 'table') return table(rows);
    return { total: leases.length, counts, matching: matching.length, agents: rows };
  }

  @Get(':agentId')
  async one(@Param('agentId') agentId: string) {
    const lease = await this.store.find(agentId, Topics.heartbeats.partitions);
    if (!lease) throw new NotFoundException(`agent ${agentId} is not registered`);
    return row(lease);
  }
}

/** Fixed-width text for a terminal: curl -s ':3001/fleet?format=table'. */
function table(rows: FleetRow[]): string {
  const cols: Array<[string, (r: FleetRow) => string]> = [
    ['AGENT', (r) => r.agentId],
    ['HOST', (r) => r.host],
    ['STATE', (r) => r.state],
    ['SINCE', (r) => r.since],
    ['LAST HEARTBEAT', (r) => r.lastHeartbeat],
    ['VERSION', (r) => r.agentVersion],
    [
      'METRICS',
      (r) =>
        Object.entries(r.metrics)
          .map(([k, v]) => `${k}=${Math.round(v * 100) / 100}`)
          .join(' '),
    ],
  ];
  const cells = [cols.map(([h]) => h), ...rows.map((r) => cols.map(([, f]) => f(r)))];
  const widths = cols.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  return (
    cells
      .map((c) =>
        c
          .map((v, i) => v.padEnd(widths[i]!))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

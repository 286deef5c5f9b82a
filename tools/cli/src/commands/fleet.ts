import { callService, ServiceError } from '../http';
import type { Context, Output } from '../output';
import { ago, bytes, fields, table, type Column } from '../render';
import type { Entity, FleetAgent, FleetPage, Heals, KeptBackup, ListedAlert } from '../views';

const SERVICES = [
  ['heartbeat', 'heartbeat'],
  ['state-sync', 'stateSync'],
  ['backup-orchestrator', 'backups'],
  ['notifier', 'notifier'],
] as const;

/** The states in the order an operator reads them: the worst first. */
export const STATES = ['unreachable', 'suspect', 'degraded', 'starting', 'healthy'] as const;

export const countsLine = (counts: Record<string, number>): string =>
  STATES.filter((s) => counts[s])
    .map((s) => `${counts[s]} ${s}`)
    .join(', ') || 'no agents';

export const agentColumns = (now: number): Column<FleetAgent>[] => [
  ['AGENT', (a) => a.agentId],
  ['HOST', (a) => a.host],
  ['STATE', (a) => a.state],
  ['SINCE', (a) => ago(a.since, now)],
  ['LAST HEARTBEAT', (a) => ago(a.lastHeartbeat, now)],
  ['VERSION', (a) => a.agentVersion],
  ['FAILED CHECKS', (a) => a.failedChecks.join(',') || '-'],
];

/** Each service's readiness, the fleet by state and the open alerts; exit 1 when a service is not ready. */
export async function status(ctx: Context): Promise<Output> {
  const { endpoints } = ctx;
  const services = await Promise.all(
    SERVICES.map(async ([name, key]) => {
      const url = endpoints[key];
      try {
        const body = await callService<{ status: string; checks: Record<string, { status: string; error?: string }> }>(
          name,
          url,
          '/health/ready',
          { accept: [503] },
        );
        const failing = Object.entries(body.checks ?? {}).filter(([, c]) => c.status !== 'ok');
        const detail = failing.map(([k, c]) => `${k}: ${c.error ?? c.status}`).join('; ');
        return {
          service: name,
          url,
          ready: body.status === 'ok',
          detail: detail || (body.status === 'ok' ? '' : body.status),
        };
      } catch (e) {
        if (!(e instanceof ServiceError)) throw e;
        return { service: name, url, ready: false, detail: e.message };
      }
    }),
  );
  const fleet = await callService<FleetPage>('heartbeat', endpoints.heartbeat, '/fleet?limit=1').catch(() => null);
  const alerts = await callService<{ alerts: ListedAlert[] }>('notifier', endpoints.notifier, '/alerts').catch(
    () => null,
  );
  const active = alerts?.alerts.filter((a) => a.state === 'active').length ?? 0;
  const data = {
    services,
    fleet: fleet && { total: fleet.total, counts: fleet.counts },
    alerts: alerts && { active, suppressed: alerts.alerts.length - active },
  };
  const text = [
    table(services, [
      ['SERVICE', (s) => s.service],
      ['READY', (s) => (s.ready ? 'yes' : 'NO')],
      ['URL', (s) => s.url],
      ['DETAIL', (s) => s.detail || '-'],
    ]),
    '',
    fleet ? `fleet: ${fleet.total} agents: ${countsLine(fleet.counts)}` : 'fleet: unknown (heartbeat does not answer)',
    alerts
      ? `alerts: ${active} active, ${alerts.alerts.length - active} suppressed`
      : 'alerts: unknown (notifier does not answer)',
  ].join('\n');
  return { data, text, exitCode: services.every((s) => s.ready) ? 0 : 1 };
}

export async function agents(
  ctx: Context,
  options: { state?: string; prefix?: string; limit?: string },
): Promise<Output> {
  const q = new URLSearchParams();
  if (options.state) q.set('state', options.state);
  if (options.prefix) q.set('prefix', options.prefix);
  if (options.limit) q.set('limit', options.limit);
  const page = await callService<FleetPage>('heartbeat', ctx.endpoints.heartbeat, `/fleet?${q}`);
  const shown = page.agents.length < page.matching ? ` (first ${page.agents.length} shown; --limit for more)` : '';
  const text = [
    table(page.agents, agentColumns(ctx.now())),
    '',
    `${page.matching} of ${page.total} agents${shown}; fleet: ${countsLine(page.counts)}`,
  ].join('\n');
  return { data: page, text };
}

const optional = <T>(p: Promise<T>): Promise<T | null> =>
  p.catch((e) => {
    if (e instanceof ServiceError && e.status === 404) return null;
    throw e;
  });

/** One agent as every service knows it: liveness, heals, open alerts, backups, entities. */
export async function agent(ctx: Context, agentId: string): Promise<Output> {
  const { endpoints: e } = ctx;
  const id = encodeURIComponent(agentId);
  const [lease, heals, alerts, backups, entities] = await Promise.all([
    callService<FleetAgent>('heartbeat', e.heartbeat, `/fleet/${id}`),
    optional(callService<Heals>('notifier', e.notifier, `/agents/${id}/heals`)),
    callService<{ alerts: ListedAlert[] }>('notifier', e.notifier, `/alerts?agent=${id}`),
    callService<{ backups: KeptBackup[] }>('backup-orchestrator', e.backups, `/agents/${id}/backups`),
    callService<{ count: number }>('state-sync', e.stateSync, `/agents/${id}/entities`),
  ]);
  const now = ctx.now();
  const data = { ...lease, heals, alerts: alerts.alerts, backups: backups.backups, entities: entities.count };
  const newest = backups.backups[0];
  const text = [
    fields([
      ['agent', lease.agentId],
      ['host', lease.host],
      ['state', `${lease.state} (since ${ago(lease.since, now)})`],
      ['last heartbeat', ago(lease.lastHeartbeat, now)],
      ['version', lease.agentVersion],
      ['tier', String(lease.priorityTier)],
      ['depends on', lease.dependencies.join(', ') || '-'],
      ['failed checks', lease.failedChecks.join(', ') || '-'],
      [
        'heals',
        heals ? `${heals.phase}, ${heals.attempts.length} attempt(s)${heals.cause ? `: ${heals.cause}` : ''}` : 'none',
      ],
      ['open alerts', alerts.alerts.map((a) => `${a.alertName} (${a.state})`).join(', ') || 'none'],
      ['backups kept', newest ? `${backups.backups.length}, newest verified ${ago(newest.verifiedAt, now)}` : 'none'],
      ['entities', String(entities.count)],
    ]),
  ].join('\n');
  return { data, text };
}

export async function entity(ctx: Context, entityId: string): Promise<Output> {
  const e = await callService<Entity>(
    'state-sync',
    ctx.endpoints.stateSync,
    `/entities/${encodeURIComponent(entityId)}`,
  );
  const text = fields([
    ['entity', e.entityId],
    ['type', e.entityType],
    ['agent', e.agentId],
    ['version', String(e.version)],
    ['last event', `${e.eventType} ${e.lastEventId}`],
    ['applied', ago(e.appliedAt, ctx.now())],
    ['payload', e.payload],
  ]);
  return { data: e, text };
}

export const backupColumns = (now: number): Column<KeptBackup>[] => [
  ['JOB', (b) => b.jobId],
  ['POLICY', (b) => b.policyId],
  ['KIND', (b) => b.kind],
  ['SIZE', (b) => bytes(b.sizeBytes)],
  ['VERIFIED', (b) => ago(b.verifiedAt, now)],
  ['LOCATION', (b) => b.location],
];

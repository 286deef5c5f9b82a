import { readFileSync } from 'node:fs';
import { EventFeed } from '../event-feed';
import { renderFrame, worstFirst, type FleetSnapshot } from '../fleet-frame';
import { callService, ServiceError } from '../http';
import type { Context } from '../output';
import type { FleetPage, KeptBackup, ListedAlert } from '../views';

const CLEAR = '\x1b[H\x1b[2J';

async function snapshot(ctx: Context, rows: number, prefix?: string): Promise<FleetSnapshot | string> {
  const { endpoints: e } = ctx;
  const problems: string[] = [];
  const soft = <T>(p: Promise<T>, fallback: T) =>
    p.catch((err) => {
      if (!(err instanceof ServiceError)) throw err;
      problems.push(err.message);
      return fallback;
    });
  const q = new URLSearchParams({ limit: '100000', ...(prefix ? { prefix } : {}) });
  let fleet: FleetPage;
  try {
    fleet = await callService<FleetPage>('heartbeat', e.heartbeat, `/fleet?${q}`);
  } catch (err) {
    if (err instanceof ServiceError) return err.message;
    throw err;
  }
  const shown = worstFirst(fleet.agents, rows);
  const [alerts, backups] = await Promise.all([
    soft(callService<{ alerts: ListedAlert[] }>('notifier', e.notifier, '/alerts'), { alerts: [] }),
    Promise.all(
      shown.map((a) =>
        soft(
          callService<{ backups: KeptBackup[] }>(
            'backup-orchestrator',
            e.backups,
            `/agents/${encodeURIComponent(a.agentId)}/backups`,
          ),
          { backups: [] },
        ).then((r) => [a.agentId, Math.max(0, ...r.backups.map((b) => b.verifiedAt))] as const),
      ),
    ),
  ]);
  return {
    fleet,
    alerts: alerts.alerts,
    lastBackup: new Map(backups.filter(([, at]) => at > 0)),
    problems: [...new Set(problems)],
  };
}

/**
 * The fleet live until Ctrl-C or SIGTERM: a frame every interval, redrawn in place on a terminal
 * (appended, for a log, when stdout is not one). Answers the exit status.
 */
export async function watch(
  ctx: Context,
  options: { intervalMs: string; rows: string; prefix?: string; once?: boolean; linksFile?: string },
): Promise<number> {
  const interval = Math.max(200, Number(options.intervalMs) || 1000);
  const rows = Math.max(1, Number(options.rows) || 15);
  const links = options.linksFile
    ? readFileSync(options.linksFile, 'utf8').trimEnd().split('\n')
    : [
        'more: vigil agents --state unreachable,suspect | vigil alerts | vigil agent <id> | vigil trace <agent id>',
        `heal chains: ${ctx.endpoints.zipkin}/zipkin/?spanName=liveness%20unreachable`,
      ];
  const feed = options.once ? null : new EventFeed(ctx.endpoints);
  void feed?.start();
  let stopping = false;
  let wake: () => void = () => undefined;
  const stop = () => {
    stopping = true;
    wake();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const tty = process.stdout.isTTY;
  try {
    for (;;) {
      const s = await snapshot(ctx, rows, options.prefix);
      const lines = [
        ...links,
        ...(feed?.healChainTrace
          ? [`newest heal chain: ${ctx.endpoints.zipkin}/zipkin/traces/${feed.healChainTrace}`]
          : []),
        ...(feed?.error ? [feed.error] : []),
      ];
      const frame =
        typeof s === 'string'
          ? `waiting for the fleet view: ${s}`
          : renderFrame(s, feed?.lines ?? [], ctx.now(), {
              rows,
              links: lines,
              backupsVerified: feed?.verifiedBackups,
            });
      process.stdout.write(tty ? `${CLEAR}${frame}\n` : `${frame}\n\n`);
      if (options.once) return typeof s === 'string' ? 1 : 0;
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, interval);
      });
      if (stopping) return 0;
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await feed?.stop();
  }
}

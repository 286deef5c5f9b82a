import { callService } from '../http';
import type { Context, Output } from '../output';
import { bytes, table } from '../render';
import type { KeptBackup, RestorePlan } from '../views';
import { backupColumns } from './fleet';

/** The agent's kept (verified) backups, newest first. */
export async function backups(ctx: Context, agentId: string): Promise<Output> {
  const { backups } = await callService<{ backups: KeptBackup[] }>(
    'backup-orchestrator',
    ctx.endpoints.backups,
    `/agents/${encodeURIComponent(agentId)}/backups`,
  );
  const text = backups.length ? table(backups, backupColumns(ctx.now())) : `no verified backup of ${agentId} is kept`;
  return { data: { agentId, backups }, text };
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10}s`;

/**
 * A restore plan for the agents (and those a selector names): the order by dependency and tier,
 * with estimates and RTO misses. A dry run unless `--run`.
 */
export async function restorePlan(
  ctx: Context,
  agents: string[],
  options: { selector?: string[]; targetDir?: string; run?: boolean },
): Promise<Output> {
  const plan = await callService<RestorePlan>('backup-orchestrator', ctx.endpoints.backups, '/restore-plans', {
    method: 'POST',
    body: { agents, selector: options.selector ?? [], targetDir: options.targetDir ?? null, run: options.run ?? false },
  });
  const text = [
    table(
      [...plan.steps].sort((a, b) => a.startsAtMs - b.startsAtMs),
      [
        ['AGENT', (s) => s.agentId],
        ['TIER', (s) => String(s.tier)],
        ['AFTER', (s) => s.after.join(',') || '-'],
        ['SIZE', (s) => bytes(s.bytes)],
        ['STARTS', (s) => `+${seconds(s.startsAtMs)}`],
        ['DONE BY', (s) => `+${seconds(s.finishesAtMs)}${s.missesRto ? ' (misses RTO)' : ''}`],
        ['STATUS', (s) => s.status],
      ],
    ),
    '',
    `plan ${plan.planId}: ${plan.status}, ${plan.steps.length} step(s), about ${seconds(plan.estimateMs)}`,
    ...plan.problems.map((p) => `cannot run: ${p}`),
    ...plan.warnings.map((w) => `warning: ${w}`),
    ...(options.run || plan.problems.length
      ? []
      : [`dry run; to run it: vigil restore-plan --run ... or POST /restore-plans/${plan.planId}/run`]),
  ].join('\n');
  return { data: plan, text, exitCode: plan.problems.length ? 1 : 0 };
}

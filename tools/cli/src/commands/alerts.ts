import { callService } from '../http';
import type { Context, Output } from '../output';
import { ago, fields, table } from '../render';
import type { ListedAlert, Silence } from '../views';

/** Open alerts, newest first; `--filter` takes Alertmanager matchers (severity=critical, host=~web.*). */
export async function alerts(ctx: Context, options: { filter?: string[]; agent?: string; active?: boolean }) {
  const q = new URLSearchParams();
  for (const f of options.filter ?? []) q.append('filter', f);
  if (options.agent) q.set('agent', options.agent);
  if (options.active) {
    q.set('silenced', 'false');
    q.set('inhibited', 'false');
  }
  const { alerts } = await callService<{ alerts: ListedAlert[] }>('notifier', ctx.endpoints.notifier, `/alerts?${q}`);
  const now = ctx.now();
  const text = [
    table(alerts, [
      ['ALERT', (a) => a.alertName],
      ['AGENT', (a) => a.agentId || '-'],
      ['HOST', (a) => a.labels.host ?? '-'],
      ['SEVERITY', (a) => a.severity],
      [
        'STATE',
        (a) => (a.state === 'active' ? 'active' : `suppressed by ${[...a.silencedBy, ...a.inhibitedBy].join(',')}`),
      ],
      ['STARTED', (a) => ago(a.startsAt, now)],
      ['SUMMARY', (a) => a.summary],
    ]),
    '',
    `${alerts.length} open alert(s)`,
  ].join('\n');
  return { data: { alerts }, text } satisfies Output;
}

const silenceRows = (silences: Silence[], now: number) =>
  table(silences, [
    ['ID', (s) => s.id],
    ['STATE', (s) => s.state],
    [
      'MATCHERS',
      (s) => s.matchers.map((m) => `${m.name}${m.isEqual ? '' : '!'}${m.isRegex ? '=~' : '='}"${m.value}"`).join(' '),
    ],
    ['ENDS', (s) => (s.endsAt > now ? `in ${ago(now, s.endsAt).replace(' ago', '')}` : ago(s.endsAt, now))],
    ['BY', (s) => s.createdBy],
    ['COMMENT', (s) => s.comment],
  ]);

export async function silences(ctx: Context): Promise<Output> {
  const { silences } = await callService<{ silences: Silence[] }>('notifier', ctx.endpoints.notifier, '/silences');
  return { data: { silences }, text: silenceRows(silences, ctx.now()) };
}

/** Sets a silence: matchers as Alertmanager writes them, for a duration ("2h", "30m"). */
export async function silenceAdd(
  ctx: Context,
  matchers: string[],
  options: { duration: string; comment: string; author: string },
): Promise<Output> {
  const answer = await callService<{ silenceID: string; silence: Silence }>(
    'notifier',
    ctx.endpoints.notifier,
    '/silences',
    {
      method: 'POST',
      body: { matchers, duration: options.duration, comment: options.comment, createdBy: options.author },
    },
  );
  const s = answer.silence;
  return {
    data: answer,
    text: fields([
      ['silence', s.id],
      ['state', s.state],
      ['until', new Date(s.endsAt).toISOString()],
    ]),
  };
}

export async function silenceExpire(ctx: Context, id: string): Promise<Output> {
  const answer = await callService<{ silence: Silence }>(
    'notifier',
    ctx.endpoints.notifier,
    `/silences/${encodeURIComponent(id)}`,
    { method: 'DELETE' },
  );
  return { data: answer, text: `silence ${id} expired: what it muted notifies again at its group's next flush` };
}

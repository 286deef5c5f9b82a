import { callService } from '../http';
import type { Context, Output } from '../output';
import { fields } from '../render';

interface ZipkinSpan {
  traceId: string;
  name?: string;
  timestamp?: number;
  localEndpoint?: { serviceName?: string };
}

/**
 * The newest trace of an event (its id) or of an entity: the agent's publish span carries both as
 * `vigil.event.id` and `vigil.entity.id`, so Zipkin's tag query finds them. A trace the sampler
 * dropped cannot be found; a heal chain is always kept.
 */
export async function trace(ctx: Context, id: string, options: { lookbackH?: string }): Promise<Output> {
  const lookback = Number(options.lookbackH ?? 24) * 3600_000;
  const base = ctx.endpoints.zipkin;
  for (const tag of ['vigil.event.id', 'vigil.entity.id', 'vigil.agent.id']) {
    const q = new URLSearchParams({
      annotationQuery: `${tag}=${id}`,
      limit: '1',
      lookback: String(lookback),
      endTs: String(ctx.now()),
    });
    const traces = await callService<ZipkinSpan[][]>('zipkin', base, `/api/v2/traces?${q}`);
    const spans = traces[0];
    if (!spans?.length) continue;
    const root = [...spans].sort((a, b) => (a.timestamp ?? 0) - (b.timestamp ?? 0))[0]!;
    const services = [...new Set(spans.map((s) => s.localEndpoint?.serviceName).filter(Boolean))];
    const link = `${base}/zipkin/traces/${root.traceId}`;
    const data = { id, matchedOn: tag, traceId: root.traceId, link, spans: spans.length, services, root: root.name };
    return {
      data,
      text: fields([
        ['trace', root.traceId],
        ['matched', `${tag}=${id}`],
        ['starts with', root.name ?? '-'],
        ['spans', `${spans.length} across ${services.join(', ')}`],
        ['open', link],
      ]),
    };
  }
  throw new NotTraced(
    `no trace of ${id} in the last ${lookback / 3600_000} h (as event id, entity id or agent id): it may not have been sampled (VIGIL_TRACE_RATIO)`,
  );
}

export class NotTraced extends Error {}

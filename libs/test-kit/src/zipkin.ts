/** A span as Zipkin's v2 API returns it (the fields the tests read). */
export interface ZipkinSpan {
  traceId: string;
  id: string;
  parentId?: string;
  name: string;
  kind?: string;
  localEndpoint?: { serviceName?: string };
  tags?: Record<string, string>;
}

/** The env that makes a service export every span to the Zipkin of infra/zipkin.sh within 100 ms (the default batch waits 5 s). */
export const ZIPKIN_TRACING_ENV = { OTEL_TRACES_EXPORTER: 'zipkin', OTEL_BSP_SCHEDULE_DELAY: '100' } as const;

/** The spans Zipkin holds for a trace (none yet: an empty list). */
export async function zipkinTrace(traceId: string): Promise<ZipkinSpan[]> {
  const url = process.env.ZIPKIN_URL;
  if (!url) throw new Error('ZIPKIN_URL is not set: bring Zipkin up with infra/up.sh (or infra/zipkin.sh up)');
  const res = await fetch(`${url}/api/v2/trace/${traceId}`);
  return res.ok ? ((await res.json()) as ZipkinSpan[]) : [];
}

/** `service: name (KIND)`, how the tests name a span in assertions and messages. */
export const showSpan = (s: ZipkinSpan): string =>
  `${s.localEndpoint?.serviceName}: ${s.name} (${s.kind ?? 'INTERNAL'})`;

/** The chain from a span up to its trace's root, root first. */
export function ancestry(spans: ZipkinSpan[], leaf: ZipkinSpan): ZipkinSpan[] {
  const byId = new Map(spans.map((s) => [s.id, s]));
  const chain: ZipkinSpan[] = [];
  for (let s: ZipkinSpan | undefined = leaf; s; s = s.parentId ? byId.get(s.parentId) : undefined) chain.unshift(s);
  return chain;
}

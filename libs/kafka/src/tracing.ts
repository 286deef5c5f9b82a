import {
  context as otelContext,
  isSpanContextValid,
  ROOT_CONTEXT,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
} from '@opentelemetry/api';

/** An OpenTelemetry context, for code that passes one on without depending on the API itself. */
export type TraceContext = Context;

/** Kafka record headers as KafkaJS hands them over (and accepts them). */
export type RecordHeaders = Record<string, Buffer | string | (Buffer | string)[] | undefined>;

const setter: TextMapSetter<RecordHeaders> = {
  set(carrier, key, value) {
    carrier[key] = value;
  },
};

const getter: TextMapGetter<RecordHeaders> = {
  keys: (carrier) => Object.keys(carrier),
  get(carrier, key) {
    const value = carrier[key];
    if (value === undefined) return undefined;
    return Array.isArray(value) ? value.map((v) => v.toString()) : value.toString();
  },
};

/** Writes the W3C trace context (traceparent, tracestate, baggage) of ctx into the headers. */
export function injectTraceContext(headers: RecordHeaders, ctx: Context = otelContext.active()): RecordHeaders {
  propagation.inject(ctx, headers, setter);
  return headers;
}

/** The W3C traceparent of a context's span, to store beside what it caused (undefined when none). */
export function traceparentOf(ctx: Context): string | undefined {
  return injectTraceContext({}, ctx).traceparent?.toString();
}

/** The context a producer put on a record, to parent the consumer's span. */
export function extractTraceContext(headers: RecordHeaders | undefined): Context {
  return propagation.extract(otelContext.active(), headers ?? {}, getter);
}

export function eventsTracer(): Tracer {
  return trace.getTracer('@vigil/events');
}

/**
 * Runs `work` in one span caused by several records (a batch's Redis script, a notification made
 * of several alerts): a child of the first record's span and linked to every record's, so that
 * each record's trace leads to it (Zipkin shows the parent; backends that show links show all).
 * `work` gets the span's context, to pass on (an HTTP request's traceparent). Its status says
 * whether the work threw; `work` may set more (an HTTP status) on the span it is given.
 */
export async function inLinkedSpan<T>(
  name: string,
  contexts: Context[],
  options: { kind?: 'internal' | 'client'; attributes: Attributes },
  work: (span: Span, context: Context) => Promise<T>,
): Promise<T> {
  const links: Link[] = contexts.flatMap((c) => {
    const sc = trace.getSpanContext(c);
    return sc ? [{ context: sc }] : [];
  });
  const parent = contexts[0] ?? otelContext.active();
  const span = eventsTracer().startSpan(
    name,
    { kind: options.kind === 'client' ? SpanKind.CLIENT : SpanKind.INTERNAL, links, attributes: options.attributes },
    parent,
  );
  try {
    return await work(span, trace.setSpan(parent, span));
  } catch (e) {
    span.recordException(e as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error).message });
    throw e;
  } finally {
    span.end();
  }
}

/** Marks a span failed without an exception: an HTTP error status, a refusal. `type` is its error.type. */
export function failSpan(span: Span, type: string, message: string): void {
  span.setAttribute('error.type', type);
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}

/** inLinkedSpan for the work of a batch of consumed records (one Redis script for the whole batch, say). */
export function inBatchSpan<T>(
  name: string,
  contexts: Context[],
  attributes: Attributes,
  work: (span: Span) => Promise<T>,
): Promise<T> {
  return inLinkedSpan(
    name,
    contexts,
    { attributes: { ...attributes, 'messaging.batch.message_count': contexts.length } },
    (span) => work(span),
  );
}

/**
 * The span attribute (OpenTracing's convention) that asks Vigil's sampler to keep a trace whatever
 * the ratio: see PrioritySampler in @vigil/platform.
 */
export const SAMPLING_PRIORITY = 'sampling.priority';

/**
 * Starts a new, always-sampled trace for something caused by silence rather than by a record (an
 * agent gone unreachable): its root span links to the last record's span, and carries that trace's
 * id as `vigil.cause.trace_id` too, since Zipkin shows no links. Returns the context to publish in:
 * where this process does not trace, that stays the last record's, so a chain is not cut.
 */
export function startCausedBySilence(name: string, lastSeen: Context, attributes: Attributes): Context {
  const last = trace.getSpanContext(lastSeen);
  const span = eventsTracer().startSpan(
    name,
    {
      kind: SpanKind.INTERNAL,
      root: true,
      links: last ? [{ context: last, attributes: { 'vigil.link': 'last seen' } }] : [],
      attributes: { ...attributes, [SAMPLING_PRIORITY]: 1, ...(last ? { 'vigil.cause.trace_id': last.traceId } : {}) },
    },
    ROOT_CONTEXT,
  );
  span.end();
  return isSpanContextValid(span.spanContext()) ? trace.setSpan(ROOT_CONTEXT, span) : lastSeen;
}

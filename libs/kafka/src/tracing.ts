import {
  context as otelContext,
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

/** The context a producer put on a record, to parent the consumer's span. */
export function extractTraceContext(headers: RecordHeaders | undefined): Context {
  return propagation.extract(otelContext.active(), headers ?? {}, getter);
}

export function eventsTracer(): Tracer {
  return trace.getTracer('@vigil/events');
}

/**
 * Runs `work` in one span for a batch of consumed records (one Redis script for the whole batch,
 * say): a child of the first record's span and linked to every record's, so that each record's
 * trace leads to it (Zipkin shows the parent; backends that show links show all). Its status says
 * whether the work threw.
 */
export async function inBatchSpan<T>(
  name: string,
  contexts: Context[],
  attributes: Attributes,
  work: (span: Span) => Promise<T>,
): Promise<T> {
  const links: Link[] = contexts.flatMap((c) => {
    const sc = trace.getSpanContext(c);
    return sc ? [{ context: sc }] : [];
  });
  const span = eventsTracer().startSpan(
    name,
    { kind: SpanKind.INTERNAL, links, attributes: { ...attributes, 'messaging.batch.message_count': contexts.length } },
    contexts[0] ?? otelContext.active(),
  );
  try {
    return await work(span);
  } catch (e) {
    span.recordException(e as Error);
    span.setStatus({ code: SpanStatusCode.ERROR, message: (e as Error).message });
    throw e;
  } finally {
    span.end();
  }
}

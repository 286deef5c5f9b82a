import {
  context as otelContext,
  propagation,
  trace,
  type Context,
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

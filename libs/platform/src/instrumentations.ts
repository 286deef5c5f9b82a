import type { Instrumentation } from '@opentelemetry/instrumentation';
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';

/**
 * Whether the OTEL_* env asks for traces to go anywhere: OTEL_TRACES_EXPORTER names an exporter
 * other than none, or an OTLP endpoint is set (which means otlp). startTracing reads it the same way.
 */
export function tracingRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  const otlp = env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  const exporters = env.OTEL_TRACES_EXPORTER ?? (otlp ? 'otlp' : 'none');
  return exporters.split(',').some((e) => e.trim() !== '' && e.trim() !== 'none');
}

/**
 * The maintained instrumentations a service runs with, where they make the right spans (README
 * "Traces" says why KafkaJS's is not among them): HTTP, for the API requests people and tools make
 * and the calls a service makes (registry, S3); ioredis, for the Redis commands an API request runs.
 */
export function vigilInstrumentations(): Instrumentation[] {
  return [
    new HttpInstrumentation({
      // Scrapes and probes every few seconds would bury the requests people make.
      ignoreIncomingRequestHook: (req) => /^\/(metrics|health)(\/|\?|$)/.test(req.url ?? ''),
      // A registry or S3 call outside any span (a schema lookup at start) is not a trace of its own.
      requireParentforOutgoingSpans: true,
    }),
    // Only inside a span: the consume path runs its Redis work as one hand-made span per batch
    // (a script for the whole batch), which a span per command would only repeat.
    new IORedisInstrumentation({ requireParentSpan: true }),
  ];
}

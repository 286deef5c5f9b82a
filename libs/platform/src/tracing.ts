import { NodeSDK } from '@opentelemetry/sdk-node';
import { SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { tracingRequested } from './instrumentations';
import { PrioritySampler, samplerFromEnv } from './priority-sampler';

export interface TracingOptions {
  /** The service name unless OTEL_SERVICE_NAME says otherwise. */
  serviceName: string;
  /** For tests: an exporter that gets every span as it ends (instead of what the env says). */
  exporter?: SpanExporter;
}

/**
 * Starts OpenTelemetry configured the standard way, by env: OTEL_TRACES_EXPORTER (otlp, zipkin,
 * console, none; a comma-separated list for several), OTEL_EXPORTER_OTLP_ENDPOINT and the other
 * OTEL_EXPORTER_OTLP_* variables, OTEL_EXPORTER_ZIPKIN_ENDPOINT, OTEL_TRACES_SAMPLER and
 * OTEL_TRACES_SAMPLER_ARG (wrapped in a PrioritySampler), OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_PROPAGATORS.
 *
 * Off unless asked for: without OTEL_TRACES_EXPORTER (or an OTLP endpoint, which means otlp) no
 * tracer provider is registered, so spans are non-recording and cost a context lookup; the W3C
 * context a record arrives with is still passed on to what it causes, so services that do trace
 * see one chain through one that does not. Call before anything else, so the context manager is in
 * place for the first span.
 */
export function startTracing(options: TracingOptions): { shutdown: () => Promise<void> } {
  // Vigil exports traces only; metrics are scraped from /metrics and logs go to stdout.
  process.env.OTEL_METRICS_EXPORTER ??= 'none';
  process.env.OTEL_LOGS_EXPORTER ??= 'none';
  // Unset: an OTLP endpoint means otlp (tracingRequested's reading of the same env), else none.
  if (!process.env.OTEL_TRACES_EXPORTER && !options.exporter)
    process.env.OTEL_TRACES_EXPORTER = tracingRequested() ? 'otlp' : 'none';
  const sdk = new NodeSDK({
    serviceName: process.env.OTEL_SERVICE_NAME || options.serviceName,
    spanProcessors: options.exporter ? [new SimpleSpanProcessor(options.exporter)] : undefined,
    // The standard sampler from env, except that a trace started with sampling.priority (an agent
    // gone unreachable) is always kept.
    sampler: new PrioritySampler(samplerFromEnv()),
    // Registered by ./instrument before the modules they patch were loaded (see there).
    instrumentations: [],
  });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}

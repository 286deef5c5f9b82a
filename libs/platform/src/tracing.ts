import { NodeSDK } from '@opentelemetry/sdk-node';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import {
  BatchSpanProcessor,
  NoopSpanProcessor,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';

export interface TracingOptions {
  serviceName: string;
  /** OTLP/HTTP endpoint; without it (and without an exporter) spans are created but not exported. */
  otlpEndpoint?: string;
  /** For tests: an in-memory exporter that collects every span. */
  exporter?: SpanExporter;
}

/**
 * Starts the OpenTelemetry SDK: W3C trace-context propagation (what libs/events injects into and
 * extracts from Kafka headers) and, where configured, an OTLP exporter. Call before anything else
 * so that the context manager is in place for the first span.
 */
export function startTracing(options: TracingOptions): { shutdown: () => Promise<void> } {
  // Spans are recorded even when nothing exports them, so trace context still flows downstream.
  let processor: SpanProcessor = new NoopSpanProcessor();
  if (options.exporter) processor = new SimpleSpanProcessor(options.exporter);
  else if (options.otlpEndpoint) {
    processor = new BatchSpanProcessor(
      new OTLPTraceExporter({ url: `${options.otlpEndpoint.replace(/\/$/, '')}/v1/traces` }),
    );
  }
  // Vigil exports traces only; metrics are scraped from /metrics and logs go to stdout.
  process.env.OTEL_METRICS_EXPORTER ??= 'none';
  process.env.OTEL_LOGS_EXPORTER ??= 'none';
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName }),
    spanProcessors: [processor],
    // No auto-instrumentation: the spans that matter (publish, process, Redis apply) are made by
    // Vigil's own code, and monkey-patching KafkaJS would double them.
    instrumentations: [],
  });
  sdk.start();
  return { shutdown: () => sdk.shutdown() };
}

import type { Attributes, Context, Link, SpanKind } from '@opentelemetry/api';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  SamplingDecision,
  TraceIdRatioBasedSampler,
  type Sampler,
  type SamplingResult,
} from '@opentelemetry/sdk-trace-base';
import { SAMPLING_PRIORITY } from '@vigil/kafka';

/**
 * Samples what the configured sampler samples, and every span started with `sampling.priority` > 0
 * besides. Heartbeats are most of the spans and can be sampled down to a few percent; the trace an
 * unreachable agent starts (the heal chain) must be kept whatever the ratio, and its children
 * follow it through the parent-based samplers downstream.
 */
export class PrioritySampler implements Sampler {
  constructor(private readonly configured: Sampler) {}

  shouldSample(
    context: Context,
    traceId: string,
    spanName: string,
    spanKind: SpanKind,
    attributes: Attributes,
    links: Link[],
  ): SamplingResult {
    const priority = attributes[SAMPLING_PRIORITY];
    if (typeof priority === 'number' && priority > 0) return { decision: SamplingDecision.RECORD_AND_SAMPLED };
    return this.configured.shouldSample(context, traceId, spanName, spanKind, attributes, links);
  }

  toString(): string {
    return `PrioritySampler{${this.configured.toString()}}`;
  }
}

/**
 * The sampler OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG name (the specification's values;
 * parentbased_always_on when unset), so the priority wrapper keeps the standard configuration.
 * An unknown name or a ratio outside [0, 1] is a configuration error, not a silent default.
 */
export function samplerFromEnv(env: NodeJS.ProcessEnv = process.env): Sampler {
  const name = env.OTEL_TRACES_SAMPLER?.trim() || 'parentbased_always_on';
  const ratio = (): number => {
    const raw = env.OTEL_TRACES_SAMPLER_ARG?.trim();
    if (!raw) return 1;
    const r = Number(raw);
    if (!Number.isFinite(r) || r < 0 || r > 1)
      throw new Error(`OTEL_TRACES_SAMPLER_ARG=${raw}: a ratio between 0 and 1 is expected`);
    return r;
  };
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio());
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio()) });
    default:
      throw new Error(
        `OTEL_TRACES_SAMPLER=${name}: one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio is expected`,
      );
  }
}

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ROOT_CONTEXT, SpanKind, TraceFlags, trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SamplingDecision,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { startCausedBySilence } from '@vigil/kafka';
import { PrioritySampler, samplerFromEnv } from './priority-sampler';

// Its four 32-bit words XOR to 0xffffffff, above every ratio's bound: a ratio sampler below 1 drops it.
const traceId = 'ffffffff000000000000000000000000';
const sample = (env: NodeJS.ProcessEnv, attributes = {}, context = ROOT_CONTEXT) =>
  new PrioritySampler(samplerFromEnv(env)).shouldSample(context, traceId, 'span', SpanKind.INTERNAL, attributes, [])
    .decision;

describe('PrioritySampler', () => {
  it('keeps what the configured sampler keeps and drops what it drops', () => {
    assert.equal(sample({}), SamplingDecision.RECORD_AND_SAMPLED, 'parentbased_always_on by default');
    assert.equal(sample({ OTEL_TRACES_SAMPLER: 'always_off' }), SamplingDecision.NOT_RECORD);
    assert.equal(
      sample({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.1' }),
      SamplingDecision.NOT_RECORD,
    );
  });

  it('keeps a span started with sampling.priority > 0 whatever the ratio, and only that one', () => {
    const env = { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' };
    assert.equal(sample(env, { 'sampling.priority': 1 }), SamplingDecision.RECORD_AND_SAMPLED);
    assert.equal(sample(env, { 'sampling.priority': 0 }), SamplingDecision.NOT_RECORD);
    assert.equal(
      sample({ OTEL_TRACES_SAMPLER: 'always_off' }, { 'sampling.priority': 1 }),
      SamplingDecision.RECORD_AND_SAMPLED,
    );
  });

  it('follows a sampled parent under parentbased_traceidratio (the heal chain downstream of a kept root)', () => {
    const parent = trace.setSpanContext(ROOT_CONTEXT, {
      traceId,
      spanId: 'ffffffffffffffff',
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
    });
    const env = { OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' };
    assert.equal(sample(env, {}, parent), SamplingDecision.RECORD_AND_SAMPLED);
  });

  it('refuses an unknown sampler or a ratio outside [0, 1], naming what is expected', () => {
    assert.throws(
      () => samplerFromEnv({ OTEL_TRACES_SAMPLER: 'sometimes' }),
      /OTEL_TRACES_SAMPLER=sometimes: one of always_on/,
    );
    assert.throws(
      () => samplerFromEnv({ OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' }),
      /OTEL_TRACES_SAMPLER_ARG=2: a ratio between 0 and 1/,
    );
  });
});

/** The context of a heartbeat's publish span, as the heartbeat service extracts it from the record. */
const lastBeat = (traceFlags: TraceFlags) =>
  trace.setSpanContext(ROOT_CONTEXT, {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    traceFlags,
    isRemote: true,
  });

describe('a transition caused by silence (startCausedBySilence under the PrioritySampler)', () => {
  it('starts a new trace that is kept at a 0% ratio, links to the last heartbeat and names its trace', () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({
      sampler: new PrioritySampler(
        samplerFromEnv({ OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' }),
      ),
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    assert.ok(trace.setGlobalTracerProvider(provider));
    try {
      const ctx = startCausedBySilence('liveness unreachable', lastBeat(TraceFlags.NONE), {
        'vigil.agent.id': 'a1',
      });
      const [span] = exporter.getFinishedSpans();
      assert.ok(span, 'the span was kept although the ratio is 0');
      assert.equal(span.name, 'liveness unreachable');
      assert.equal(span.parentSpanContext, undefined, 'a root: silence has no parent');
      assert.notEqual(span.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c');
      assert.deepEqual(
        span.links.map((l) => `${l.context.traceId}/${l.context.spanId}`),
        ['0af7651916cd43dd8448eb211c80319c/b7ad6b7169203331'],
      );
      assert.equal(span.attributes['vigil.cause.trace_id'], '0af7651916cd43dd8448eb211c80319c');
      assert.equal(span.attributes['vigil.agent.id'], 'a1');
      assert.equal(trace.getSpanContext(ctx)?.spanId, span.spanContext().spanId, 'what it causes is published in it');
    } finally {
      trace.disable();
    }
  });

  it("leaves the last heartbeat's context to publish in where the process does not trace", () => {
    const ctx = startCausedBySilence('liveness unreachable', lastBeat(TraceFlags.SAMPLED), {});
    assert.equal(trace.getSpanContext(ctx)?.spanId, 'b7ad6b7169203331');
  });
});

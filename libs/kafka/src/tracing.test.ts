import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { context, propagation, trace, SpanKind } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { SchemaCodec } from '@vigil/events';
import { ConsumerRunner, type ConsumedRecord } from './consumer-runner';
import { ensureTopics } from './ensure-topics';
import { createKafkaClient } from './kafka-client';
import { EventProducer } from './producer';
import { sampleStateChange } from '@vigil/events';
import { infraEnv, isolatedTopic, waitUntil } from './testing';
import { Topics, type TopicDef } from '@vigil/events';

import { silentLogger as quiet } from './logger';

describe('W3C trace context travels in Kafka headers', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const env = infraEnv();
  const kafka = createKafkaClient({ brokers: env.brokers, clientId: 'trace-test', logger: quiet });
  const codec = new SchemaCodec({ registryUrl: env.registryUrl });
  const producer = new EventProducer(kafka, codec);
  const topic = isolatedTopic(Topics.stateChanges, { partitions: 1 });
  const received: Array<ConsumedRecord<unknown>> = [];
  let runner: ConsumerRunner | undefined;

  before(async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    trace.setGlobalTracerProvider(provider);
    await ensureTopics(kafka, [topic, topic.dlq!] as TopicDef<unknown>[], quiet);
    runner = new ConsumerRunner({
      kafka,
      codec,
      producer,
      groupId: `trace-${randomUUID()}`,
      logger: quiet,
      subscriptions: [
        { topic, handler: async (records: Array<ConsumedRecord<never>>) => void received.push(...records) },
      ] as never,
    });
    await runner.start();
  });

  after(async () => {
    await runner?.stop().catch(() => undefined);
    await producer.disconnect();
    trace.disable();
    propagation.disable();
    context.disable();
  });

  it("makes the producer's span the parent of the consumer's span, in one trace", async () => {
    const agentOp = trace.getTracer('agent').startSpan('agent publishStateChange');
    await context.with(trace.setSpan(context.active(), agentOp), () =>
      producer.send(topic, [{ value: sampleStateChange() }]),
    );
    agentOp.end();
    await waitUntil(() => received.length === 1, 30000, 'the record');

    const spans = exporter.getFinishedSpans();
    const publish = spans.find((s) => s.name === `${topic.name} publish`);
    await waitUntil(
      () => exporter.getFinishedSpans().some((s) => s.name === `${topic.name} process`),
      5000,
      'the process span',
    );
    const processSpan = exporter.getFinishedSpans().find((s) => s.name === `${topic.name} process`)!;
    assert.ok(publish, 'the producer made a publish span');
    assert.equal(publish.kind, SpanKind.PRODUCER);
    assert.equal(publish.parentSpanContext?.spanId, agentOp.spanContext().spanId);
    assert.equal(processSpan.kind, SpanKind.CONSUMER);
    assert.equal(processSpan.spanContext().traceId, agentOp.spanContext().traceId);
    assert.equal(processSpan.parentSpanContext?.spanId, publish.spanContext().spanId);
    assert.equal(processSpan.parentSpanContext?.isRemote, true, 'the parent came from the record headers');

    const traceparent = received[0]!.headers.traceparent?.toString();
    assert.match(
      traceparent ?? '',
      new RegExp(`^00-${agentOp.spanContext().traceId}-${publish.spanContext().spanId}-0[01]$`),
    );
    assert.equal(
      trace.getSpan(received[0]!.context)?.spanContext().spanId,
      processSpan.spanContext().spanId,
      'the record carries its process span, for whatever the handler publishes next',
    );
  });
});

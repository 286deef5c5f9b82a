import 'reflect-metadata';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Controller, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import type { INestMicroservice } from '@nestjs/common';
import { SchemaCodec } from '@vigil/events';
import type { ConsumedRecord, HandlerResult } from '@vigil/kafka';
import { ensureTopics } from '@vigil/kafka';
import { createKafkaClient } from '@vigil/kafka';
import { EventProducer } from '@vigil/kafka';
import { sampleStateChange } from '@vigil/events';
import { committedOffsets, infraEnv, readRecords, waitUntil } from '@vigil/kafka/testing';
import { Topics } from '@vigil/events';
import type { StateChangeEvent } from '@vigil/events';
import { KafkaBatchContext, KafkaEventTransport } from './kafka-event-transport';

import { silentLogger as quiet } from '@vigil/kafka';
const seen: Array<{ versions: number[]; partition: number }> = [];

@Controller()
class StateChangesController {
  // Domain rejection: version 13 is refused by the handler and must land in the DLQ as 'rejected'.
  @EventPattern(Topics.stateChanges.name)
  async onStateChanges(
    @Payload() records: Array<ConsumedRecord<StateChangeEvent>>,
    @Ctx() ctx: KafkaBatchContext,
  ): Promise<HandlerResult<StateChangeEvent>> {
    seen.push({ versions: records.map((r) => r.value.version), partition: ctx.batch.partition });
    return { rejected: records.filter((r) => r.value.version === 13).map((record) => ({ record, error: 'unlucky' })) };
  }
}

@Module({ controllers: [StateChangesController] })
class TestModule {}

describe('KafkaEventTransport: handlers declared with @EventPattern', () => {
  const env = infraEnv();
  const kafka = createKafkaClient({ brokers: env.brokers, clientId: 'nest-test', logger: quiet });
  const codec = new SchemaCodec({ registryUrl: env.registryUrl });
  const producer = new EventProducer(kafka, codec);
  const groupId = `nest-${randomUUID()}`;
  const entity = `nest-entity-${randomUUID()}`;
  let app: INestMicroservice | undefined;

  before(async () => {
    await ensureTopics(kafka, undefined, quiet);
    app = await NestFactory.createMicroservice(TestModule, {
      logger: false,
      strategy: new KafkaEventTransport({ kafka, codec, producer, groupId, logger: quiet, fromBeginning: false }),
    });
    await app.listen();
  });

  after(async () => {
    await app?.close().catch(() => undefined);
    await producer.disconnect();
  });

  it('delivers decoded batches to the handler, dead-letters what it rejects, and commits', async () => {
    await producer.send(
      Topics.stateChanges,
      [12, 13, 14].map((v) => ({ value: sampleStateChange(entity, v) })),
    );
    await waitUntil(() => seen.flatMap((s) => s.versions).includes(14), 30000, 'the batch');
    assert.deepEqual(
      seen.flatMap((s) => s.versions).filter((v) => v >= 12),
      [12, 13, 14],
    );

    const letters = await readRecords(kafka, Topics.stateChanges.dlq!.name, 1, 30000);
    const mine = [];
    for (const m of letters) {
      const d = await codec.decode(Topics.stateChanges.dlq!, m.value);
      if (d.ok && d.value.key?.toString() === entity) mine.push(d.value);
    }
    assert.equal(mine.length, 1);
    assert.equal(mine[0]!.reason, 'rejected');
    assert.equal(mine[0]!.error, 'unlucky');

    const partition = seen.at(-1)!.partition;
    await waitUntil(
      async () => (await committedOffsets(kafka, groupId, Topics.stateChanges.name)).get(partition)! > 0n,
      15000,
      'the commit',
    );
  });
});

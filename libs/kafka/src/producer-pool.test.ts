import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SchemaCodec } from '@vigil/events';
import { createKafkaClient } from './kafka-client';
import { EventProducerPool } from './producer-pool';

// Nothing connects: the pool's promise is which producer serves which partition.
const kafka = createKafkaClient({ brokers: ['127.0.0.1:1'], clientId: 'pool-test' });
const codec = new SchemaCodec({ registryUrl: 'http://127.0.0.1:1' });

describe('EventProducerPool', () => {
  it('serves a partition always from the same producer, and spreads partitions over all of them', () => {
    const pool = new EventProducerPool(kafka, codec, 4);
    const first = Array.from({ length: 12 }, (_, p) => pool.forPartition(p));
    const second = Array.from({ length: 12 }, (_, p) => pool.forPartition(p));
    assert.deepEqual(first, second);
    assert.equal(new Set(first).size, 4);
  });

  it('refuses a pool without producers', () => {
    assert.throws(() => new EventProducerPool(kafka, codec, 0), /at least one producer/);
  });
});

import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { protocolError } from './testing';

// KafkaJS internals as patched by patches/kafkajs+2.2.4.patch (applied by `npm ci`'s postinstall).
// These tests fail on an unpatched install: they are what says the patch is in place.
const load = createRequire(__filename);
const createEosManager = load('kafkajs/src/producer/eosManager') as (options: object) => {
  initProducerId(): Promise<void>;
  beginTransaction(): void;
  addPartitionsToTransaction(topics: Array<{ topic: string; partitions: Array<{ partition: number }> }>): Promise<void>;
};
const groupMessagesPerPartition = load('kafkajs/src/producer/groupMessagesPerPartition') as (options: {
  topic: string;
  partitionMetadata: unknown[];
  messages: Array<{ key: string; partition: number }>;
  partitioner: (args: { message: { partition: number } }) => number;
}) => Record<string, Array<{ key: string }>>;

const silent = { debug() {}, info() {}, warn() {}, error() {} };

/** A transaction coordinator that answers AddPartitionsToTxn with the given errors first, then accepts. */
async function transactingWith(errors: string[]) {
  const coordinator = {
    addPartitionsRequests: 0,
    initProducerId: async () => ({ producerId: 7, producerEpoch: 0 }),
    addPartitionsToTxn: async () => {
      coordinator.addPartitionsRequests += 1;
      const next = errors.shift();
      if (next) throw protocolError(next);
    },
  };
  const eos = createEosManager({
    logger: silent,
    cluster: {
      retry: { retries: 0 },
      refreshMetadataIfNecessary: async () => undefined,
      findGroupCoordinator: async () => coordinator,
    },
    transactional: true,
    transactionalId: 'patch-test',
  });
  await eos.initProducerId();
  eos.beginTransaction();
  return { coordinator, add: () => eos.addPartitionsToTransaction([{ topic: 't', partitions: [{ partition: 0 }] }]) };
}

describe('KafkaJS as patched for Vigil', () => {
  it('asks again soon while the coordinator still completes the previous commit (CONCURRENT_TRANSACTIONS)', async () => {
    const { coordinator, add } = await transactingWith(['CONCURRENT_TRANSACTIONS', 'CONCURRENT_TRANSACTIONS']);
    await add();
    assert.equal(coordinator.addPartitionsRequests, 3);
  });

  it('hands any other error to the send at once, for its own retries', async () => {
    const { coordinator, add } = await transactingWith(['INVALID_PRODUCER_EPOCH']);
    await assert.rejects(add(), { type: 'INVALID_PRODUCER_EPOCH' });
    assert.equal(coordinator.addPartitionsRequests, 1);
  });

  it('gives up its quick retries after 50 requests and hands CONCURRENT_TRANSACTIONS on', async () => {
    const { coordinator, add } = await transactingWith(Array(60).fill('CONCURRENT_TRANSACTIONS'));
    await assert.rejects(add(), { type: 'CONCURRENT_TRANSACTIONS' });
    assert.equal(coordinator.addPartitionsRequests, 50);
  });

  it("groups a send's records by partition, each partition's in the order sent", () => {
    const messages = Array.from({ length: 5_000 }, (_, i) => ({ key: `k${i}`, partition: i % 3 }));
    const grouped = groupMessagesPerPartition({
      topic: 't',
      partitionMetadata: [{}, {}, {}],
      messages,
      partitioner: ({ message }) => message.partition,
    });
    assert.deepEqual(Object.keys(grouped), ['0', '1', '2']);
    assert.equal(grouped['1']!.length, 1_667);
    assert.deepEqual(
      grouped['2']!.slice(0, 3).map((m) => m.key),
      ['k2', 'k5', 'k8'],
    );
  });
});

// Publish -> visible latency at a fixed offered rate, for any contender that makes an entity
// visible somewhere (state-sync in Redis, a Streams app or a passthrough on an output topic).
import { randomUUID } from 'node:crypto';
import { Topics } from '@vigil/events';
import { partitionOfKey, type EventProducer } from '@vigil/kafka';
import { stateSyncKeys } from '@vigil/redis-keys';
import { percentile, waitUntil } from '@vigil/test-kit';
import type Redis from 'ioredis';
import type { BenchKafka as Kafka } from './bench-clients';
import { ev } from './state-sync-kit';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface Visibility {
  /** When each entity became visible, ms since epoch (undefined: not yet). */
  visibleAt(entityIds: string[]): Promise<Array<number | undefined>>;
  close(): Promise<void>;
}

/** An entity's keys, in the slot of the partition its events land on (keyed by entity id). */
export const entityKeys = (entityId: string) => stateSyncKeys(partitionOfKey(entityId, Topics.stateChanges.partitions));

export function redisVisibility(redis: Redis): Visibility {
  return {
    async visibleAt(ids) {
      const pipeline = redis.pipeline();
      for (const id of ids) pipeline.hget(entityKeys(id).state(id), 'appliedAt');
      return ((await pipeline.exec()) ?? []).map(([, v]) => (v ? Number(v) : undefined));
    },
    close: async () => undefined,
  };
}

export async function topicVisibility(kafka: Kafka, topic: string): Promise<Visibility> {
  const seen = new Map<string, number>();
  const consumer = kafka.consumer({ groupId: `bench-visibility-${randomUUID()}`, maxWaitTimeInMs: 20 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: false });
  let joined = false;
  consumer.on(consumer.events.GROUP_JOIN, () => (joined = true));
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch }) => {
      const now = Date.now();
      for (const m of batch.messages) if (m.key) seen.set(m.key.toString(), now);
    },
  });
  await waitUntil(() => joined, 60000, `the visibility consumer of ${topic} to join`);
  return {
    visibleAt: async (ids) => ids.map((id) => seen.get(id)),
    close: () => consumer.disconnect(),
  };
}

/**
 * Rounds of 48 fresh entities (every partition gets some) until one round is visible in full within
 * 2 s: the contender has joined, restored every partition and reads the tail.
 */
export async function warmUp(producer: EventProducer, watch: Visibility, prefix: string) {
  let round = 0;
  await waitUntil(
    async () => {
      const ids = Array.from({ length: 48 }, (_, i) => `${prefix}-${round}-${i}`);
      round++;
      await producer.send(
        Topics.stateChanges,
        ids.map((id) => ({ value: ev(id, 1) })),
      );
      await sleep(2000);
      return (await watch.visibleAt(ids)).every((t) => t !== undefined);
    },
    120000,
    `${prefix} to become visible`,
  );
}

export async function latencyAtRate(
  producer: EventProducer,
  watch: Visibility,
  prefix: string,
  rate: number,
  seconds: number,
) {
  const perTick = Math.max(1, Math.round(rate / 100));
  const probes: Array<{ entityId: string; sentAt: number }> = [];
  const start = Date.now();
  let sent = 0;
  let tick = 0;
  while (Date.now() - start < seconds * 1000) {
    const due = start + tick * 10;
    if (Date.now() < due) await sleep(due - Date.now());
    const now = Date.now();
    // One fresh entity per tick is the probe: visible once, never overwritten by a later version.
    const probe = `${prefix}-probe-${rate}-${tick}`;
    const events = [
      ev(probe, 1, now),
      ...Array.from({ length: perTick - 1 }, (_, i) => ev(`${prefix}-r${rate}-${i}`, tick + 1, now)),
    ];
    probes.push({ entityId: probe, sentAt: now });
    await producer.send(
      Topics.stateChanges,
      events.map((value) => ({ value })),
    );
    sent += events.length;
    tick++;
  }
  const sendEnded = Date.now();
  const achieved = sent / ((sendEnded - start) / 1000);
  const ids = probes.map((p) => p.entityId);
  await waitUntil(async () => (await watch.visibleAt(ids)).every((t) => t !== undefined), 300000, 'every probe').catch(
    () => undefined,
  );
  const at = await watch.visibleAt(ids);
  const lat = probes.flatMap((p, i) => (at[i] === undefined ? [] : [at[i]! - p.sentAt])).sort((a, b) => a - b);
  const result = {
    offered: rate,
    achievedEventsPerSecond: Math.round(achieved),
    probes: probes.length,
    unseen: probes.length - lat.length,
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    max: lat.at(-1),
    drainMsAfterLastSend: Math.max(0, Math.max(...at.map((t) => t ?? 0)) - sendEnded),
  };
  console.log(`  ${prefix} at ${rate}/s: ${JSON.stringify(result)}`);
  return result;
}

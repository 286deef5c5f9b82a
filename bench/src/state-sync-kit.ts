// What the state-sync benchmarks share: the events they publish, and how they tell that a
// state-sync group has caught up with a topic's end.
import { randomUUID } from 'node:crypto';
import { Topics, type StateChangeEvent } from '@vigil/events';
import type { createKafkaClient, EventProducer } from '@vigil/kafka';
import { committedOffsets, metricSum } from '@vigil/test-kit';

export function ev(entityId: string, version: number, now = Date.now()): StateChangeEvent {
  return {
    eventId: randomUUID(),
    entityId,
    entityType: 'bench',
    agentId: 'bench-agent',
    eventType: 'updated',
    version,
    timestamp: now,
    payload: '{"v":1}',
    checksum: null,
  };
}

/** `n` events: n/20 entities, 20 versions each, in version order, sent 2,000 a batch. */
export async function preload(producer: EventProducer, prefix: string, n: number): Promise<void> {
  for (let v = 1; v <= 20; v++) {
    const batch = Array.from({ length: n / 20 }, (_, e) => ev(`${prefix}-e${e}`, v));
    for (let i = 0; i < batch.length; i += 2000)
      await producer.send(
        Topics.stateChanges,
        batch.slice(i, i + 2000).map((value) => ({ value })),
      );
  }
}

/** Whether the group has committed every partition of the state-change topic up to `ends`. */
export async function committedAll(
  kafka: ReturnType<typeof createKafkaClient>,
  group: string,
  ends: Map<number, bigint>,
): Promise<boolean> {
  const committed = await committedOffsets(kafka, group, Topics.stateChanges.name);
  return [...ends].every(([p, end]) => end === 0n || (committed.get(p) ?? -1n) >= end);
}

/** A metric of the service, 0 while it does not answer yet. */
export const metric = (port: number, name: string) => metricSum(port, name).catch(() => 0);

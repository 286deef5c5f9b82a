import { randomUUID } from 'node:crypto';
import type { SchemaCodec, TopicDef } from '@vigil/events';
import { ensureTopics, highWatermarks, silentLogger, type KafkaClient } from '@vigil/kafka';
import { plain } from '@vigil/kafka/testing';

export interface Seen<T> {
  value: T;
  /** Local wall time at which the watcher read the record. */
  receivedAt: number;
  /** The record's headers, as strings (trace context among them). */
  headers: Record<string, string>;
}

export interface TopicWatch<T> {
  seen: Array<Seen<T>>;
  values(filter?: (v: T) => boolean): T[];
  stop(): Promise<void>;
}

/**
 * Every record of `def` that `match` accepts, decoded, read as it is published from the topic's
 * end as of the call (other runs may have left records there). `onRecord` is called for each in
 * order: a test can act on what it reads (answer a heal command, say).
 */
export async function watchTopic<T>(
  kafka: KafkaClient,
  codec: SchemaCodec,
  def: TopicDef<T>,
  match: (value: T) => boolean,
  onRecord?: (value: T) => Promise<void> | void,
): Promise<TopicWatch<T>> {
  const seen: Array<Seen<T>> = [];
  // An at-least-once reader: a record it re-reads (its own rebalance) is not a second one.
  const offsets = new Set<string>();
  // On a fresh broker the topic may not exist until a service creates it: create it as it would.
  await ensureTopics(kafka, [def as TopicDef<unknown>], silentLogger);
  const start = await highWatermarks(kafka, def.name);
  const consumer = kafka.consumer({ groupId: `watch-${def.name}-${randomUUID()}`, maxWaitTimeInMs: 50 });
  await consumer.connect();
  await consumer.subscribe({ topic: def.name, fromBeginning: true });
  consumer.on(consumer.events.GROUP_JOIN, () => {
    for (const [partition, offset] of start) consumer.seek({ topic: def.name, partition, offset: offset.toString() });
  });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const at = `${partition}@${message.offset}`;
      if (offsets.has(at)) return;
      offsets.add(at);
      const d = await codec.decode(def, message.value);
      if (!d.ok) return;
      const value = plain(d.value) as T;
      if (!match(value)) return;
      const headers = Object.fromEntries(
        Object.entries(message.headers ?? {}).map(([k, v]) => [k, v === undefined ? '' : String(v)]),
      );
      seen.push({ value, receivedAt: Date.now(), headers });
      await onRecord?.(value);
    },
  });
  return {
    seen,
    values: (filter) => seen.map((s) => s.value).filter((v) => !filter || filter(v)),
    stop: () => consumer.disconnect(),
  };
}

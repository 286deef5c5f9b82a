import { Topics, type AgentLivenessChanged, type SchemaCodec } from '@vigil/events';
import { highWatermarks, type KafkaClient } from '@vigil/kafka';
import { plain } from '@vigil/kafka/testing';

export interface SeenTransition extends AgentLivenessChanged {
  /** Local wall time at which the watcher read the event. */
  receivedAt: number;
}

export interface LivenessWatch {
  seen: SeenTransition[];
  /** The states an agent went to, in order. */
  of(agentId: string): string[];
  to(state: string): SeenTransition[];
  stop(): Promise<void>;
}

/**
 * Every AgentLivenessChanged of agents whose id starts with prefix, read as they are published,
 * from the topic's end as of the call (earlier runs may have left many events there).
 */
export async function watchLiveness(kafka: KafkaClient, codec: SchemaCodec, prefix: string): Promise<LivenessWatch> {
  const seen: SeenTransition[] = [];
  // An at-least-once reader: a record it re-reads (its own rebalance) is not a second event.
  const offsets = new Set<string>();
  const start = await highWatermarks(kafka, Topics.liveness.name);
  const consumer = kafka.consumer({ groupId: `liveness-watch-${prefix}`, maxWaitTimeInMs: 50 });
  await consumer.connect();
  await consumer.subscribe({ topic: Topics.liveness.name, fromBeginning: true });
  consumer.on(consumer.events.GROUP_JOIN, () => {
    for (const [partition, offset] of start)
      consumer.seek({ topic: Topics.liveness.name, partition, offset: offset.toString() });
  });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      if (!message.key?.toString().startsWith(prefix)) return;
      const at = `${partition}@${message.offset}`;
      if (offsets.has(at)) return;
      offsets.add(at);
      const d = await codec.decode(Topics.liveness, message.value);
      if (d.ok) seen.push({ ...(plain(d.value) as AgentLivenessChanged), receivedAt: Date.now() });
    },
  });
  return {
    seen,
    of: (agentId) => seen.filter((t) => t.agentId === agentId).map((t) => t.to),
    to: (state) => seen.filter((t) => t.to === state),
    stop: () => consumer.disconnect(),
  };
}

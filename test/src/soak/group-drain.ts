// Consumer lag at the end of the soak, for every group it runs: what arrived while the soak ran, on
// a topic a group consumes, must be committed by that group. Partitions that received nothing in the
// run are left out: a group that starts at the end commits nothing there, and owes nothing.
import { highWatermarks, KafkaAdminFacade, type KafkaClient } from '@vigil/kafka';
import { waitUntil } from '@vigil/test-kit';

/** Offsets per partition, per topic. */
export type TopicOffsets = Map<string, Map<number, bigint>>;

/** The high watermarks of the topics. */
export async function topicEnds(kafka: KafkaClient, topics: Iterable<string>): Promise<TopicOffsets> {
  const ends: TopicOffsets = new Map();
  for (const topic of new Set(topics)) ends.set(topic, await highWatermarks(kafka, topic));
  return ends;
}

/**
 * The partitions that grew from `starts` to `ends` and that the group has not committed up to the
 * end of, as `<topic>/<partition>: committed <offset> < end <offset>` (-1: nothing committed).
 */
export function partitionsBehind(starts: TopicOffsets, ends: TopicOffsets, committed: TopicOffsets): string[] {
  const behind: string[] = [];
  for (const [topic, topicEnds] of ends)
    for (const [p, end] of topicEnds) {
      if (end <= (starts.get(topic)?.get(p) ?? 0n)) continue;
      const c = committed.get(topic)?.get(p) ?? -1n;
      if (c < end) behind.push(`${topic}/${p}: committed ${c} < end ${end}`);
    }
  return behind;
}

/**
 * Waits until each group has committed, on the topics it consumes, everything written to them from
 * `starts` until now. Returns the seconds it took, or the partitions still behind per group.
 */
export async function waitGroupsDrained(
  kafka: KafkaClient,
  groups: Record<string, readonly string[]>,
  starts: TopicOffsets,
  timeoutMs: number,
): Promise<{ seconds: number } | { behind: Record<string, string[]> }> {
  const started = Date.now();
  const ends = await topicEnds(kafka, Object.values(groups).flat());
  let behind: Record<string, string[]> = {};
  // One admin connection for every poll of every group.
  const admin = new KafkaAdminFacade(kafka, 30000);
  const drained = await waitUntil(
    async () => {
      behind = {};
      for (const [group, topics] of Object.entries(groups)) {
        const committed: TopicOffsets = new Map();
        for (const topic of topics) committed.set(topic, await admin.committedOffsets(group, topic));
        const groupEnds = new Map([...ends].filter(([t]) => topics.includes(t)));
        const late = partitionsBehind(starts, groupEnds, committed);
        if (late.length > 0) behind[group] = late;
      }
      return Object.keys(behind).length === 0;
    },
    timeoutMs,
    'every consumer group to commit what was written while the soak ran',
  )
    .then(
      () => true,
      () => false,
    )
    .finally(() => admin.close());
  return drained ? { seconds: Math.round((Date.now() - started) / 1000) } : { behind };
}

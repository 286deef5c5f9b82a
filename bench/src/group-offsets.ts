// Where a bench's consumer groups start. Offsets are always set explicitly: KafkaJS's
// resetOffsets commits -1 for "latest", which a consumer reads as "no offset" and so starts at the
// beginning of the topic (fromBeginning), replaying every earlier run into the measurement.
import { highWatermarks, type createKafkaClient } from '@vigil/kafka';

type Kafka = ReturnType<typeof createKafkaClient>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Commits `at` (partition -> next offset) for each group; waits out members still timing out. */
export async function startGroupsAt(
  kafka: Kafka,
  groups: string[],
  topic: string,
  at: Map<number, bigint>,
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    for (const groupId of groups) {
      const partitions = [...at].map(([partition, offset]) => ({ partition, offset: offset.toString() }));
      for (let attempt = 0; ; attempt++) {
        try {
          await admin.setOffsets({ groupId, topic, partitions });
          break;
        } catch (e) {
          // A process of the group just stopped: the broker refuses until its members time out.
          if (attempt > 60) throw e;
          await sleep(1000);
        }
      }
    }
  } finally {
    await admin.disconnect();
  }
}

/** Moves a stopped group to the topic's current end: the next run measures only what comes after. */
export async function skipToEnd(kafka: Kafka, group: string, topic: string): Promise<void> {
  await startGroupsAt(kafka, [group], topic, await highWatermarks(kafka, topic));
}

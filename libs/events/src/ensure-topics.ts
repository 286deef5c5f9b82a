import type { KafkaClient } from './kafka-client';
import type { EventsLogger } from './logger';
import { stderrLogger } from './logger';
import { allTopics, type TopicDef } from './topics';

export interface EnsureTopicsResult {
  created: string[];
  existing: string[];
}

/**
 * Creates the catalogue's topics that do not exist yet, with their partitions and config.
 * Idempotent: a second call creates nothing, and a topic another process created in the meantime
 * counts as existing. An existing topic with a different config is reported, never altered, since
 * changing cleanup.policy under running consumers is an operator's decision.
 */
export async function ensureTopics(
  kafka: KafkaClient,
  topics: TopicDef<unknown>[] = allTopics(),
  logger: EventsLogger = stderrLogger,
): Promise<EnsureTopicsResult> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const present = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !present.has(t.name));
    if (missing.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((t) => ({
          topic: t.name,
          numPartitions: t.partitions,
          replicationFactor: -1, // the broker's default.replication.factor
          configEntries: Object.entries(t.config).map(([name, value]) => ({ name, value })),
        })),
      });
    }
    // createTopics answers false rather than failing when another process won the race.
    const after = new Set(await admin.listTopics());
    const created = missing.filter((t) => after.has(t.name)).map((t) => t.name);
    const stillMissing = topics.filter((t) => !after.has(t.name)).map((t) => t.name);
    if (stillMissing.length > 0) throw new Error(`topics could not be created: ${stillMissing.join(', ')}`);
    await reportDrift(
      admin,
      topics.filter((t) => present.has(t.name)),
      logger,
    );
    return { created, existing: topics.filter((t) => present.has(t.name)).map((t) => t.name) };
  } finally {
    await admin.disconnect();
  }
}

async function reportDrift(
  admin: ReturnType<KafkaClient['admin']>,
  topics: TopicDef<unknown>[],
  logger: EventsLogger,
): Promise<void> {
  if (topics.length === 0) return;
  const metadata = await admin.fetchTopicMetadata({ topics: topics.map((t) => t.name) });
  for (const t of topics) {
    const meta = metadata.topics.find((m) => m.name === t.name);
    if (meta && meta.partitions.length !== t.partitions) {
      logger.warn(
        { topic: t.name, expected: t.partitions, actual: meta.partitions.length },
        'topic exists with a different partition count than the catalogue',
      );
    }
  }
}

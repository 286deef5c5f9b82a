import type { KafkaAdmin, KafkaClient } from './kafka-client';
import type { EventsLogger } from './logger';
import { stderrLogger } from './logger';
import { allTopics, type TopicDef } from '@vigil/events';
import { withRetries } from './retries';

export interface EnsureTopicsResult {
  created: string[];
  existing: string[];
}

/**
 * Creates the catalogue's topics that do not exist yet, with their partitions and config.
 * Idempotent: a second call creates nothing, and a topic another process created in the meantime
 * counts as existing. An existing topic with a different config is reported, never altered, since
 * changing cleanup.policy under running consumers is an operator's decision.
 *
 * It returns only once every partition of every topic asked for has a leader that answers a
 * ListOffsets request: right after creation the controller has elected leaders but brokers (and
 * the metadata a client holds) may not know yet, and the first offset read would fail with "not
 * the leader". Settling errors are retried for up to `settleTimeoutMs`, then it throws naming them.
 */
export async function ensureTopics(
  kafka: KafkaClient,
  topics: TopicDef<unknown>[] = allTopics(),
  logger: EventsLogger = stderrLogger,
  settleTimeoutMs = 60000,
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
    await waitForLeaders(admin, topics, settleTimeoutMs);
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

async function waitForLeaders(admin: KafkaAdmin, topics: TopicDef<unknown>[], timeoutMs: number): Promise<void> {
  const names = topics.map((t) => t.name);
  await withRetries(
    `leaders of ${names.length} topics`,
    async () => {
      const metadata = await admin.fetchTopicMetadata({ topics: names });
      const leaderless = metadata.topics.flatMap((t) =>
        t.partitions.filter((p) => p.leader < 0).map((p) => `${t.name}/${p.partitionId}`),
      );
      if (leaderless.length > 0)
        throw Object.assign(new Error(`no leader yet for ${leaderless.join(', ')}`), { type: 'LEADER_NOT_AVAILABLE' });
      // Asking each leader proves it knows it leads: metadata alone can be ahead of the broker.
      for (const name of names) await admin.fetchTopicOffsets(name);
    },
    {
      timeoutMs,
      lostConnections: true,
      beforeRetry: async () => void (await admin.fetchTopicMetadata({ topics: names })),
    },
  );
}

async function reportDrift(admin: KafkaAdmin, topics: TopicDef<unknown>[], logger: EventsLogger): Promise<void> {
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

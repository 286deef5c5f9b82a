import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigResourceTypes } from 'kafkajs';
import { ensureTopics } from './ensure-topics';
import { createKafkaClient } from './kafka-client';
import { infraEnv, isolatedTopic } from './testing';
import { allTopics, Topics, type TopicDef } from '@vigil/events';

import { silentLogger as quiet } from './logger';

describe('ensureTopics', () => {
  const kafka = createKafkaClient({ brokers: infraEnv().brokers, clientId: 'topics-test', logger: quiet });

  it('creates missing topics with their partitions and config, and a second call is a no-op', async () => {
    const changelog = isolatedTopic(Topics.stateChangelog);
    const heartbeats = isolatedTopic(Topics.heartbeats);
    const defs = [changelog, heartbeats] as TopicDef<unknown>[];

    const first = await ensureTopics(kafka, defs, quiet);
    assert.deepEqual(first.created.sort(), [changelog.name, heartbeats.name].sort());
    const second = await ensureTopics(kafka, defs, quiet);
    assert.deepEqual(second.created, []);
    assert.deepEqual(second.existing.sort(), [changelog.name, heartbeats.name].sort());

    const admin = kafka.admin();
    await admin.connect();
    try {
      const meta = await admin.fetchTopicMetadata({ topics: [changelog.name] });
      assert.equal(meta.topics[0]!.partitions.length, Topics.stateChangelog.partitions);
      const { resources } = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [
          { type: ConfigResourceTypes.TOPIC, name: changelog.name, configNames: ['cleanup.policy'] },
          { type: ConfigResourceTypes.TOPIC, name: heartbeats.name, configNames: ['message.timestamp.type'] },
        ],
      });
      const value = (name: string, key: string) =>
        resources.find((r) => r.resourceName === name)!.configEntries.find((c) => c.configName === key)!.configValue;
      assert.equal(value(changelog.name, 'cleanup.policy'), 'compact', 'the changelog is compacted');
      assert.equal(value(heartbeats.name, 'message.timestamp.type'), 'LogAppendTime', 'heartbeats carry broker time');
    } finally {
      await admin.disconnect();
    }
  });

  it('returns only once every partition has a leader that answers: an offset read right after it needs no retry', async () => {
    // The CI failure this guards against: listOffsets right after creation answered "not the leader".
    const topics = Array.from({ length: 3 }, () => isolatedTopic(Topics.heartbeats)) as TopicDef<unknown>[];
    await ensureTopics(kafka, topics, quiet);
    const fresh = createKafkaClient({ brokers: infraEnv().brokers, clientId: 'topics-test-fresh', logger: quiet });
    const admin = fresh.admin({ retry: { retries: 0 } });
    await admin.connect();
    try {
      for (const t of topics) {
        const offsets = await admin.fetchTopicOffsets(t.name);
        assert.equal(offsets.length, Topics.heartbeats.partitions);
      }
    } finally {
      await admin.disconnect();
    }
  });

  it('brings up the whole catalogue, each topic with its dead-letter topic, idempotently', async () => {
    await ensureTopics(kafka, undefined, quiet);
    const again = await ensureTopics(kafka, undefined, quiet);
    assert.deepEqual(again.created, []);
    assert.equal(again.existing.length, allTopics().length);
    assert.ok(again.existing.includes('vigil.agent.state-changes.dlq'));
  });
});

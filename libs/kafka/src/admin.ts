import type { KafkaAdmin, KafkaClient } from './kafka-client';
import { withRetries } from './retries';

/** Offsets per partition of one topic. */
export type PartitionOffsets = Map<number, bigint>;

/**
 * The cluster questions services ask (watermarks, a group's committed offsets, the cluster id),
 * over one admin connection opened on first use. Broker answers that mean "not settled yet" (a
 * leader moving, a coordinator loading) are retried within `timeoutMs` with fresh metadata;
 * anything else is thrown at once, so callers that treat a failed read as an outage still can.
 */
export class KafkaAdminFacade {
  private admin?: Promise<KafkaAdmin>;

  constructor(
    private readonly kafka: KafkaClient,
    private readonly timeoutMs = 10000,
  ) {}

  /** The next offset to be written per partition. */
  highWatermarks(topic: string): Promise<PartitionOffsets> {
    return this.ask(
      `high watermarks of ${topic}`,
      async (a) => new Map((await a.fetchTopicOffsets(topic)).map((o) => [o.partition, BigInt(o.high)])),
      [topic],
    );
  }

  /**
   * The leader (broker id) of each partition of the topic. A partition without one (an election
   * under way) fails the read: KafkaJS treats any partition error in metadata as the request's.
   */
  partitionLeaders(topic: string): Promise<Map<number, number>> {
    return this.ask(
      `partition leaders of ${topic}`,
      async (a) => {
        const { topics } = await a.fetchTopicMetadata({ topics: [topic] });
        return new Map((topics[0]?.partitions ?? []).map((p) => [p.partitionId, p.leader]));
      },
      [topic],
    );
  }

  /** The group's committed offset per partition (-1 where it committed nothing). */
  committedOffsets(groupId: string, topic: string): Promise<PartitionOffsets> {
    return this.ask(`committed offsets of ${groupId} on ${topic}`, async (a) => {
      const [res] = await a.fetchOffsets({ groupId, topics: [topic] });
      return new Map((res?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
    });
  }

  async clusterId(): Promise<string> {
    return this.ask('cluster id', async (a) => (await a.describeCluster()).clusterId);
  }

  async close(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    await (await admin?.catch(() => undefined))?.disconnect().catch(() => undefined);
  }

  private async ask<T>(what: string, fn: (admin: KafkaAdmin) => Promise<T>, topics: string[] = []): Promise<T> {
    const admin = await this.connected();
    return withRetries(what, () => fn(admin), {
      timeoutMs: this.timeoutMs,
      beforeRetry: async () => void (await admin.fetchTopicMetadata({ topics })),
    });
  }

  private connected(): Promise<KafkaAdmin> {
    if (!this.admin) {
      const admin = this.kafka.admin();
      const connecting = admin.connect().then(() => admin);
      connecting.catch(() => {
        if (this.admin === connecting) this.admin = undefined; // the next call connects again
      });
      this.admin = connecting;
    }
    return this.admin;
  }
}

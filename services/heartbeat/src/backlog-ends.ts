import { readPartitionRanges, type KafkaClient } from '@vigil/kafka';

/** Where a partition's backlog ends, as it stood when the replay began. */
export interface BacklogEnd {
  /** The high watermark then: records before it are the backlog. */
  endOffset: bigint;
  /** Broker append time of the last record before it: "now" as far as the backlog can tell. */
  endBrokerMs: number;
}

/**
 * Reads the append time of the last record of partitions about to replay a backlog, so that beats
 * already stale at the backlog's end can be told apart while replaying (see LeaseTable.beat).
 * Requests that come together (every partition of a join restores at once) share one read: KafkaJS
 * has no manual assignment, and each read joins a throwaway group.
 */
export class BacklogEnds {
  private waiting = new Map<number, { endOffset: bigint; resolve: (end: BacklogEnd | undefined) => void }>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly kafka: KafkaClient,
    private readonly topic: string,
    private readonly onError: (e: Error) => void,
    private readonly coalesceMs = 25,
    private readonly idleTimeoutMs = 15_000,
  ) {}

  /** The end of a partition whose high watermark is `endOffset`; undefined if it cannot be read. */
  of(partition: number, endOffset: bigint): Promise<BacklogEnd | undefined> {
    if (endOffset <= 0n) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      this.waiting.get(partition)?.resolve(undefined);
      this.waiting.set(partition, { endOffset, resolve });
      this.timer ??= setTimeout(() => void this.readWaiting(), this.coalesceMs);
    });
  }

  private async readWaiting(): Promise<void> {
    const batch = this.waiting;
    this.waiting = new Map();
    this.timer = undefined;
    const times = new Map<number, number>();
    try {
      await readPartitionRanges(
        this.kafka,
        this.topic,
        [...batch].map(([partition, w]) => ({ partition, from: w.endOffset - 1n, to: w.endOffset })),
        (partition, m) => void times.set(partition, Number(m.timestamp)),
        this.idleTimeoutMs,
      );
    } catch (e) {
      this.onError(e as Error); // without the end, the backlog is replayed as before: nothing is lost
    }
    for (const [partition, w] of batch) {
      const endBrokerMs = times.get(partition);
      w.resolve(endBrokerMs === undefined ? undefined : { endOffset: w.endOffset, endBrokerMs });
    }
  }
}

import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Topics, type DeadLetter } from '@vigil/events';
import {
  fitDeadLetter,
  extractTraceContext,
  failSpan,
  injectTraceContext,
  inLinkedSpan,
  type EventProducer,
  type GroupListener,
} from '@vigil/kafka';
import { CONFIG, LOGGER, MEMBERSHIP, METRICS, PRODUCER, type GroupMembership, type Logger } from '@vigil/platform';
import { Counter, Gauge, type Registry } from 'prom-client';
import { backoffDelay } from '../backoff';
import type { NotifierConfig } from '../config';
import { NOTIFIER_POLICY } from '../notifier-policy.provider';
import type { NotifierPolicy } from '../policy';
import { DeliveryStore, type PendingDelivery } from './delivery-store';

const SWEEP_BATCH = 200;

/** The receiver a delivery id names (ids end in `/<receiver>`; receiver names hold no slash). */
const receiverOf = (id: string) => id.slice(id.lastIndexOf('/') + 1);

/**
 * Sends the notifications group flushes queued (AlertRouter), at least once. Sweeps of the shards
 * this instance owns send what is due, without waiting on each other: a receiver that is slow or
 * down holds only its own requests (`concurrencyPerReceiver`), never consuming nor the other
 * receivers. A failed send is retried with backoff; after `maxAttempts` the notification goes to
 * vigil.alerts.dlq with the last error. Every request carries an `Idempotency-Key` header, the same
 * on every retry, so a receiver can drop what it already has. A webhook gets Alertmanager's webhook
 * JSON; an alertmanager receiver gets the alerts POSTed to its `/api/v2/alerts`.
 */
@Injectable()
export class WebhookDelivery implements GroupListener, OnModuleInit, OnApplicationShutdown {
  private owned = new Set<number>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly perReceiver = new Map<string, number>();
  private timer?: NodeJS.Timeout;
  private sweeping = false;
  /** A send finished during a sweep: capacity freed, so sweep again at once rather than at the next tick. */
  private sweepAgain = false;
  private stopped = false;
  private readonly notifications: Counter<'receiver' | 'outcome'>;

  constructor(
    private readonly store: DeliveryStore,
    @Inject(NOTIFIER_POLICY) private readonly policy: NotifierPolicy,
    @Inject(PRODUCER) private readonly producer: EventProducer,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(MEMBERSHIP) private readonly membership: GroupMembership,
    @Inject(CONFIG) private readonly config: NotifierConfig,
    @Inject(METRICS) registry: Registry,
  ) {
    this.notifications = new Counter({
      name: 'vigil_notifier_notifications_total',
      help: 'Webhook notification attempts, by receiver and outcome (sent, failed: retried, dead_lettered: given up)',
      labelNames: ['receiver', 'outcome'] as const,
      registers: [registry],
    });
    const pending = () => this.store.countPending(Topics.alerts.partitions);
    new Gauge({
      name: 'vigil_notifier_deliveries_pending',
      help: 'Webhook notifications queued in Redis and not yet acknowledged by their receiver (all shards)',
      registers: [registry],
      async collect() {
        this.set(await pending().catch(() => NaN));
      },
    });
  }

  onModuleInit(): void {
    this.membership.subscribe(this);
    this.timer = setInterval(() => void this.sweep(), this.config.SWEEP_INTERVAL_MS);
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    // Each request is bounded by its receiver's timeout; what is unsent stays queued in Redis.
    await Promise.allSettled(this.inFlight.values());
  }

  rebalancing(): void {
    this.owned = new Set();
  }

  joined(assignment: Record<string, number[]>): void {
    this.owned = new Set(assignment[Topics.alerts.name] ?? []);
  }

  /** Notifications were queued: sweep now rather than at the next tick. */
  kick(): void {
    void this.sweep();
  }

  private async sweep(): Promise<void> {
    if (this.stopped) return;
    if (this.sweeping) {
      this.sweepAgain = true;
      return;
    }
    this.sweeping = true;
    this.sweepAgain = false;
    try {
      const now = Date.now();
      for (const shard of this.owned) {
        // Ids first: only the deliveries there is room for now are read (the receiver is in the id).
        const starting: string[] = [];
        for (const id of await this.store.dueIds(shard, now, SWEEP_BATCH)) {
          if (this.inFlight.has(id)) continue;
          const receiver = receiverOf(id);
          const busy = this.perReceiver.get(receiver) ?? 0;
          if (busy >= this.policy.delivery.concurrencyPerReceiver) continue;
          this.perReceiver.set(receiver, busy + 1);
          starting.push(id);
        }
        const loaded = new Map((await this.store.load(shard, starting)).map((d) => [d.id, d]));
        for (const id of starting) {
          const d = loaded.get(id);
          const receiver = receiverOf(id);
          const release = () => this.perReceiver.set(receiver, (this.perReceiver.get(receiver) ?? 1) - 1);
          if (!d) {
            release(); // delivered and removed meanwhile
            continue;
          }
          const sending = this.deliver(shard, d).finally(() => {
            this.inFlight.delete(id);
            release();
            // A receiver that keeps up is fed as fast as it answers, not a few requests per tick.
            void this.sweep();
          });
          this.inFlight.set(id, sending);
        }
      }
    } catch (e) {
      this.logger.warn({ err: (e as Error).message }, 'delivery sweep failed; retried on the next one');
    } finally {
      this.sweeping = false;
    }
    if (this.sweepAgain) setImmediate(() => void this.sweep());
  }

  private async deliver(shard: number, d: PendingDelivery): Promise<void> {
    const receiver = this.policy.receivers.find((r) => r.name === d.receiver);
    try {
      if (!receiver) {
        // The receiver left the policy since the notification was queued: nobody to send it to.
        await this.store.done(shard, d.id);
        return;
      }
      const url = receiver.kind === 'alertmanager' ? `${receiver.url.replace(/\/+$/, '')}/api/v2/alerts` : receiver.url;
      const error = await this.post(url, receiver.timeoutMs, d);
      if (error === undefined) {
        await this.store.done(shard, d.id);
        this.notifications.inc({ receiver: d.receiver, outcome: 'sent' });
        this.logger.info(
          {
            receiver: d.receiver,
            group: d.groupKey,
            status: d.status,
            alerts: d.fingerprints.length,
            attempts: d.attempts + 1,
          },
          'notification delivered',
        );
        return;
      }
      const failed: PendingDelivery = { ...d, attempts: d.attempts + 1, lastError: error };
      if (failed.attempts >= (receiver.maxAttempts ?? this.policy.delivery.maxAttempts)) {
        await this.deadLetter(failed);
        await this.store.done(shard, d.id);
        this.notifications.inc({ receiver: d.receiver, outcome: 'dead_lettered' });
        this.logger.error(
          { receiver: d.receiver, group: d.groupKey, attempts: failed.attempts, err: error },
          'notification given up; dead-lettered',
        );
        return;
      }
      const delay = backoffDelay(this.policy.delivery.backoff, failed.attempts);
      await this.store.retryAt(shard, failed, Date.now() + delay);
      this.notifications.inc({ receiver: d.receiver, outcome: 'failed' });
      this.logger.warn(
        {
          receiver: d.receiver,
          group: d.groupKey,
          attempts: failed.attempts,
          retryInMs: delay,
          err: error,
        },
        'notification failed; retrying',
      );
    } catch (e) {
      // Redis or Kafka away: the delivery stays due and the next sweep tries again.
      this.logger.warn({ receiver: d.receiver, err: (e as Error).message }, 'delivery bookkeeping failed');
    }
  }

  /**
   * POSTs the notification; undefined on a 2xx, else why not. In an HTTP client span (a child of
   * the first alert's trace, linked to the others) whose traceparent goes with the request, so a
   * receiver that traces continues the chain.
   */
  private post(url: string, timeoutMs: number, d: PendingDelivery): Promise<string | undefined> {
    const contexts = (d.traceparents ?? []).map((traceparent) => extractTraceContext({ traceparent }));
    const attributes = {
      'http.request.method': 'POST',
      'url.full': withoutSecrets(url),
      'vigil.receiver': d.receiver,
      'vigil.alert.group': d.groupKey,
      'vigil.alert.count': d.fingerprints.length,
      'vigil.delivery.attempt': d.attempts + 1,
    };
    return inLinkedSpan('POST', contexts, { kind: 'client', attributes }, async (span, context) => {
      const headers = injectTraceContext(
        { 'content-type': 'application/json', 'idempotency-key': d.id },
        context,
      ) as Record<string, string>;
      try {
        const res = await fetch(url, {
          method: 'POST',
          headers,
          body: JSON.stringify(d.body),
          signal: AbortSignal.timeout(timeoutMs),
        });
        await res.arrayBuffer().catch(() => undefined);
        span.setAttribute('http.response.status_code', res.status);
        if (res.ok) return undefined;
        const error = `HTTP ${res.status} ${res.statusText}`.trim();
        failSpan(span, String(res.status), error);
        return error;
      } catch (e) {
        const err = e as Error & { cause?: { code?: string; message?: string } };
        const error =
          err.name === 'TimeoutError'
            ? `no answer within ${timeoutMs} ms`
            : (err.cause?.code ?? err.cause?.message ?? err.message);
        failSpan(span, err.name === 'TimeoutError' ? 'timeout' : (err.cause?.code ?? err.name), error);
        return error;
      }
    });
  }

  private async deadLetter(d: PendingDelivery): Promise<void> {
    // A notification is made of several alert records: the letter names its group and shard, and
    // carries the notification as it was sent (JSON), not Avro bytes.
    const letter: DeadLetter = fitDeadLetter({
      topic: Topics.alerts.name,
      partition: d.shard,
      offset: -1,
      key: Buffer.from(d.groupKey),
      value: Buffer.from(JSON.stringify(d.body)),
      headers: { 'idempotency-key': Buffer.from(d.id), fingerprints: Buffer.from(d.fingerprints.join(',')) },
      timestamp: d.queuedAt,
      reason: 'rejected',
      error: `webhook receiver ${d.receiver}: ${d.attempts} attempts failed; last: ${d.lastError}`,
      consumerGroup: this.config.CONSUMER_GROUP,
      failedAt: Date.now(),
    });
    // One dead letter per notification: its key is the delivery id (group, flush, receiver).
    await this.producer.send(Topics.alerts.dlq!, [{ value: letter, key: d.id }]);
  }
}

/** A receiver URL as a span may show it: no user info or query (where webhook tokens live). */
function withoutSecrets(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return 'invalid URL';
  }
}

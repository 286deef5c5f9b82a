import { BaseRpcContext, type CustomTransportStrategy, Server } from '@nestjs/microservices';
import { Catch, type RpcExceptionFilter } from '@nestjs/common';
import { lastValueFrom, throwError, type Observable } from 'rxjs';
import {
  ConsumerRunner,
  type BatchInfo,
  type ConsumedRecord,
  type ConsumerRunnerOptions,
  type HandlerResult,
  type Subscription,
} from '@vigil/kafka';
import { topicByName } from '@vigil/events';

/** What an `@EventPattern(topic)` handler receives as its context argument. */
export class KafkaBatchContext extends BaseRpcContext<[BatchInfo]> {
  get batch(): BatchInfo {
    return this.args[0];
  }
}

/**
 * Hands a handler's error to the ConsumerRunner as it was thrown. Nest's default RPC filter logs it
 * and replaces it with "Internal server error", which would hide the reason from the runner's log
 * and turn a PartitionNotReady (a partition to pause, not a failure) into a failed batch. Put it on
 * every controller with `@EventPattern`s: `@UseFilters(HandlerErrorsPassThrough)`. (Not global: the
 * app's filters are shared with HTTP, where an error must become a response.)
 */
@Catch()
export class HandlerErrorsPassThrough implements RpcExceptionFilter {
  catch(exception: unknown): Observable<never> {
    return throwError(() => exception);
  }
}

export type KafkaEventTransportOptions = Omit<ConsumerRunnerOptions, 'subscriptions'>;

/**
 * A Nest transport over the ConsumerRunner: `@EventPattern('<catalogue topic name>')` handlers get a
 * batch of decoded records (`ConsumedRecord<T>[]`) and a KafkaBatchContext. Nest's own Kafka
 * transport hands over one message at a time, commits on its own schedule and has no dead-letter
 * path, so it cannot keep the runner's guarantees; this strategy keeps them and still lets services
 * declare handlers the Nest way. `@EventPattern(topic, { includeEmptyBatches: true })` also hands over
 * batches whose records were all dead-lettered (as an empty array); `fromBeginning: false` starts a
 * new group at the end of the topic instead of its beginning; `tombstones: true` hands over records
 * without a value (deletions on a compacted topic) with `value: null` instead of dead-lettering them.
 */
export class KafkaEventTransport extends Server implements CustomTransportStrategy {
  private runner?: ConsumerRunner;

  constructor(private readonly options: KafkaEventTransportOptions) {
    super();
  }

  async listen(callback: (err?: unknown) => void): Promise<void> {
    try {
      const subscriptions = [...this.messageHandlers.keys()].map((pattern) => this.subscriptionFor(pattern));
      if (subscriptions.length > 0) {
        this.runner = new ConsumerRunner({ ...this.options, subscriptions });
        await this.runner.start();
      }
      callback();
    } catch (e) {
      callback(e);
    }
  }

  async close(): Promise<void> {
    await this.runner?.stop();
    this.runner = undefined;
  }

  /** The running consumer, for services that need rebalance callbacks. */
  unwrap<T>(): T {
    return this.runner as T;
  }

  on(): never {
    throw new Error('KafkaEventTransport has no event listeners; use unwrap() for the ConsumerRunner');
  }

  private subscriptionFor(pattern: string): Subscription<never> {
    const topic = topicByName(pattern);
    if (!topic) throw new Error(`@EventPattern('${pattern}') names no topic of the catalogue`);
    const handler = this.messageHandlers.get(pattern);
    if (!handler) throw new Error(`no handler for ${pattern}`);
    return {
      topic,
      includeEmptyBatches: handler.extras?.includeEmptyBatches === true,
      fromBeginning: handler.extras?.fromBeginning as boolean | undefined,
      tombstones: handler.extras?.tombstones === true,
      handler: async (records: Array<ConsumedRecord<unknown>>, batch: BatchInfo) => {
        const result = await handler(records, new KafkaBatchContext([batch]));
        return (await lastValueFrom(this.transformToObservable(result), { defaultValue: undefined })) as
          HandlerResult<unknown> | undefined;
      },
    } as unknown as Subscription<never>;
  }
}

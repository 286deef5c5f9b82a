import os from 'node:os';
import { context } from '@opentelemetry/api';
import {
  Topics,
  type BackupCommand,
  type HealCommand,
  type HealResult,
  type RestoreCommand,
  type TopicDef,
} from '@vigil/events';
import {
  ConsumerRunner,
  groupBy,
  stderrLogger,
  type ConsumedRecord,
  type EventsLogger,
  type Subscription,
} from '@vigil/kafka';
import type { AgentConnection } from './connection';

/** How a heal went, as the handler tells it; a handler that throws failed with its message. */
export interface HealOutcome {
  success: boolean;
  error?: string;
}

/** What an agent does when Vigil commands it; absent handlers mean the agent does not take that command. */
export interface CommandHandlers {
  /**
   * Heals the agent (restart, re-register, fail over, as `command.action` says). The supervisor
   * publishes the `HealResult`: success when it resolves (with nothing or `{ success: true }`),
   * failure when it resolves `{ success: false, error }` or throws.
   */
  heal?(command: HealCommand): Promise<HealOutcome | void> | HealOutcome | void;
  backup?(command: BackupCommand): Promise<void> | void;
  /** Restores the agent's data from a backup chain (see RestoreRunner). */
  restore?(command: RestoreCommand): Promise<void> | void;
}

export interface AgentSupervisorOptions {
  connection: AgentConnection;
  /** The host this supervisor serves (default: the OS host name); its group is `vigil-supervisor-<hostId>`. */
  hostId?: string;
  logger?: EventsLogger;
  /** The command topics (default: the catalogue's); tests give private copies. */
  topics?: {
    heal: TopicDef<HealCommand>;
    backup: TopicDef<BackupCommand>;
    restore?: TopicDef<RestoreCommand>;
    healResults?: TopicDef<HealResult>;
  };
}

/** Results remembered to answer a redelivered command without running it again. */
const REMEMBERED_RESULTS = 10_000;

export interface SupervisorStats {
  /** Commands a handler ran to completion. */
  handled: number;
  /** Commands whose handler threw (logged; the commander's retries decide what happens next). */
  failed: number;
  /** Commands for an agent of this host that has no handler for that kind. */
  unhandled: number;
  /** Records of the command topics that were not for this host's agents (passed over undecoded). */
  passedOver: number;
  /** Commands for this host that could not be decoded or validated (logged and counted). */
  refused: number;
}

type CommandKind = keyof CommandHandlers;
type AgentCommand = HealCommand | BackupCommand | RestoreCommand;

/**
 * Receives the commands of the agents one host runs. Commands are keyed by agent id, and KafkaJS
 * has no manual partition assignment, so an agent cannot read just its own: instead one supervisor
 * per host reads the command topics in a consumer group of its own (`vigil-supervisor-<host>`),
 * passes over other hosts' keys before decoding, and calls the handlers of the agents registered
 * with it. An agent that died cannot heal itself; its supervisor (a separate process, or the host's
 * agent runner) can.
 *
 * Delivery is at least once per host: offsets are committed after the handlers returned, so a
 * supervisor killed mid-command runs it again on restart (handlers should be idempotent by
 * commandId / jobId). A new supervisor group starts at the end of the topics: commands issued
 * before it first ran were not for it. Refused records are logged and counted, not dead-lettered:
 * every host reads every command, and a dead letter per host would repeat the same record.
 */
export class AgentSupervisor {
  private readonly agents = new Map<string, CommandHandlers>();
  private readonly runner: ConsumerRunner;
  private readonly logger: EventsLogger;
  private readonly counts: SupervisorStats = { handled: 0, failed: 0, unhandled: 0, passedOver: 0, refused: 0 };
  readonly groupId: string;
  /** The host it serves. */
  readonly hostId: string;
  private readonly connection: AgentConnection;
  private readonly healResults: TopicDef<HealResult>;
  /** commandId -> its result, oldest first (a Map keeps insertion order). */
  private readonly results = new Map<string, HealResult>();

  constructor(options: AgentSupervisorOptions) {
    this.logger = options.logger ?? stderrLogger;
    this.connection = options.connection;
    this.healResults = options.topics?.healResults ?? Topics.healResults;
    this.hostId = options.hostId ?? os.hostname();
    this.groupId = `vigil-supervisor-${this.hostId}`;
    const subscription = <T extends AgentCommand>(topic: TopicDef<T>, kind: CommandKind) =>
      ({
        topic,
        fromBeginning: false,
        acceptKey: (agentId: string) => {
          const ours = this.agents.has(agentId);
          if (!ours) this.counts.passedOver += 1;
          return ours;
        },
        handler: (records: Array<ConsumedRecord<T>>) => this.dispatch(kind, records),
      }) as unknown as Subscription<never>;
    this.runner = new ConsumerRunner({
      kafka: options.connection.kafka,
      codec: options.connection.codec,
      groupId: this.groupId,
      subscriptions: [
        subscription(options.topics?.heal ?? Topics.healCommands, 'heal'),
        subscription(options.topics?.backup ?? Topics.backupCommands, 'backup'),
        subscription(options.topics?.restore ?? Topics.restoreCommands, 'restore'),
      ],
      deadLetters: 'log',
      logger: this.logger,
      metrics: {
        recordsProcessed: { inc: () => undefined },
        deadLetters: { inc: (_labels, n = 1) => void (this.counts.refused += n) },
        batchFailures: { inc: () => undefined },
        partitionPauses: { inc: () => undefined },
      },
    });
  }

  /** The agent's commands go to these handlers from now on; the returned function stops that. */
  register(agentId: string, handlers: CommandHandlers): () => void {
    this.agents.set(agentId, handlers);
    return () => {
      if (this.agents.get(agentId) === handlers) this.agents.delete(agentId);
    };
  }

  /** Joins the supervisor group and starts receiving; resolves once it runs. */
  start(): Promise<void> {
    return this.runner.start();
  }

  /** Leaves the group after the batch in flight; what was not committed is redelivered on restart. */
  stop(): Promise<void> {
    return this.runner.stop();
  }

  stats(): SupervisorStats {
    return { ...this.counts };
  }

  /**
   * Runs a batch's commands: one agent's in order, different agents' side by side (a heal takes
   * seconds; a rack's worth of them one after another would outlast every command's timeout).
   */
  private async dispatch(kind: CommandKind, records: Array<ConsumedRecord<AgentCommand>>): Promise<void> {
    const byAgent = groupBy(records, (r) => r.value.agentId);
    await Promise.all(
      [...byAgent.values()].map(async (mine) => {
        for (const r of mine) await this.run(kind, r);
      }),
    );
  }

  /**
   * Runs a command's handler in the command's trace (spans the host makes in it are children of
   * the command's consume span), and publishes a heal's result in it too.
   */
  private async run(kind: CommandKind, record: ConsumedRecord<AgentCommand>) {
    await context.with(record.context, () => this.runInContext(kind, record));
  }

  private async runInContext(kind: CommandKind, { value, offset, partition }: ConsumedRecord<AgentCommand>) {
    const handler = this.agents.get(value.agentId)?.[kind] as
      ((c: typeof value) => Promise<HealOutcome | void> | HealOutcome | void) | undefined;
    if (!handler) {
      this.counts.unhandled += 1;
      this.logger.warn({ agentId: value.agentId, kind }, 'command for an agent that takes no such command');
      return;
    }
    if (kind === 'heal') {
      await this.heal(value as HealCommand, handler);
      return;
    }
    try {
      await handler(value);
      this.counts.handled += 1;
    } catch (e) {
      // One agent's failing handler must not hold back the commands of the others on this host.
      this.counts.failed += 1;
      this.logger.error(
        { agentId: value.agentId, kind, partition, offset, err: (e as Error).message },
        'command handler failed',
      );
    }
  }

  /**
   * Runs a heal and publishes its result (before the command's offset is committed). A command seen
   * before (redelivered after a crash of this supervisor, or republished by the notifier) is
   * answered with the result it had, not run twice.
   */
  private async heal(
    command: HealCommand,
    handler: (c: HealCommand) => Promise<HealOutcome | void> | HealOutcome | void,
  ) {
    let result = this.results.get(command.commandId);
    if (!result) {
      let outcome: HealOutcome;
      try {
        outcome = (await handler(command)) ?? { success: true };
      } catch (e) {
        outcome = { success: false, error: (e as Error).message };
      }
      if (outcome.success) this.counts.handled += 1;
      else this.counts.failed += 1;
      result = {
        commandId: command.commandId,
        agentId: command.agentId,
        action: command.action,
        attempt: command.attempt,
        success: outcome.success,
        error: outcome.success ? null : (outcome.error ?? 'heal failed'),
        completedAt: Date.now(),
      };
      this.results.set(command.commandId, result);
      if (this.results.size > REMEMBERED_RESULTS) this.results.delete(this.results.keys().next().value!);
    }
    // A result that cannot be sent fails the batch: it is redelivered and answered from memory.
    await this.connection.producer.send(this.healResults, [{ value: result, context: context.active() }]);
  }
}

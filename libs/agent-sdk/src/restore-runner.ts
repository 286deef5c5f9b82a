import { Topics, type RestoreCommand, type RestoreResult, type TopicDef } from '@vigil/events';
import { RestoreRefused, restoreChain, SwapJournal, type BackupStore, type RestoreRequest } from '@vigil/backup';
import { stderrLogger, type EventsLogger } from '@vigil/kafka';
import { CommandQueue } from './command-queue';
import type { AgentConnection } from './connection';

export interface RestoreRunnerOptions {
  connection: AgentConnection;
  /** Where the archives are (the store the agent's backups went to). */
  store: BackupStore;
  /** The only directories a restore may write to (its destinations and their staging trees beside them). */
  allow: string[];
  /**
   * Where in-flight swaps are journalled: a directory that survives the agent's restart, outside
   * what is restored (e.g. the agent's state directory).
   */
  journalDir: string;
  /** Restores running at once on this host (default 1). */
  concurrency?: number;
  /** Runs after a restore is in place and before success is reported (e.g. restart the service that uses it). */
  onRestored?(command: RestoreCommand): Promise<void> | void;
  /** Called at each point of the swap; tests crash the process there. */
  onPhase?: RestoreRequest['onPhase'];
  logger?: EventsLogger;
  topics?: { results?: TopicDef<RestoreResult> };
}

/**
 * Carries out restore commands (see restoreChain: every archive checked before anything is
 * touched, the chain applied into staging trees, swapped in through a journal) and reports on
 * vigil.restore.results: `running`, then `succeeded` with bytes, entries and duration, or `failed`
 * with the reason. Give `handler` to AgentSupervisor.register as the agent's `restore`.
 *
 * Call `recover()` when the agent starts: a restore a crash interrupted is rolled back (still
 * staging: the old tree stays, reported failed) or forward (mid-swap: the new tree goes in,
 * reported succeeded), both with `recovered: true`. The handler recovers first if nobody did.
 */
export class RestoreRunner {
  private readonly logger: EventsLogger;
  private readonly results: TopicDef<RestoreResult>;
  private readonly journal: SwapJournal;
  private readonly queue: CommandQueue<RestoreCommand, RestoreResult>;
  private recovery?: Promise<RestoreResult[]>;

  constructor(private readonly options: RestoreRunnerOptions) {
    this.logger = options.logger ?? stderrLogger;
    this.results = options.topics?.results ?? Topics.restoreResults;
    this.journal = new SwapJournal(options.journalDir);
    this.queue = new CommandQueue({
      concurrency: options.concurrency ?? 1,
      run: (c) => this.restore(c),
      report: (r) => this.report(r),
      logger: this.logger,
    });
  }

  /** The supervisor's restore handler. */
  readonly handler = async (command: RestoreCommand): Promise<void> => {
    await this.recover();
    await this.queue.submit(`${command.restoreId}#${command.attempt}`, command, this.result(command, 'running', {}));
  };

  /** Finishes or undoes restores a crash interrupted and reports them; once per runner. */
  recover(): Promise<RestoreResult[]> {
    this.recovery ??= (async () => {
      const out: RestoreResult[] = [];
      for (const r of await this.journal.recover()) {
        const command = r.meta as unknown as RestoreCommand;
        const completed = r.outcome === 'completed';
        const result = this.result(command, completed ? 'succeeded' : 'failed', {
          recovered: true,
          error: completed ? null : 'interrupted before its swap (the agent stopped); the old tree was kept',
        });
        this.logger.warn({ restoreId: r.restoreId, outcome: r.outcome }, 'interrupted restore recovered');
        await this.report(result);
        out.push(result);
      }
      return out;
    })();
    return this.recovery;
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  private async restore(command: RestoreCommand): Promise<RestoreResult> {
    try {
      const out = await restoreChain({
        restoreId: `${command.restoreId}#${command.attempt}`,
        chain: command.chain,
        store: this.options.store,
        allow: this.options.allow,
        targetDir: command.targetDir,
        journal: this.journal,
        meta: {
          restoreId: command.restoreId,
          planId: command.planId,
          agentId: command.agentId,
          attempt: command.attempt,
        },
        onPhase: this.options.onPhase,
      });
      await this.options.onRestored?.(command);
      this.logger.info(
        { agentId: command.agentId, restoreId: command.restoreId, bytes: out.bytes, entries: out.fileCount },
        'restore in place',
      );
      return this.result(command, 'succeeded', {
        bytes: out.bytes,
        fileCount: out.fileCount,
        durationMs: out.durationMs,
      });
    } catch (e) {
      const why = e instanceof RestoreRefused ? `refused: ${e.message}` : (e as Error).message;
      this.logger.warn({ agentId: command.agentId, restoreId: command.restoreId, err: why }, 'restore failed');
      return this.result(command, 'failed', { error: why });
    }
  }

  private result(
    command: Pick<RestoreCommand, 'restoreId' | 'planId' | 'agentId' | 'attempt'>,
    status: RestoreResult['status'],
    fields: Partial<RestoreResult>,
  ): RestoreResult {
    return {
      restoreId: command.restoreId,
      planId: command.planId,
      agentId: command.agentId,
      status,
      error: null,
      bytes: null,
      fileCount: null,
      durationMs: null,
      recovered: false,
      attempt: command.attempt,
      reportedAt: Date.now(),
      ...fields,
    };
  }

  private report(result: RestoreResult): Promise<unknown> {
    return this.options.connection.producer.send(this.results, [{ value: result }]);
  }
}

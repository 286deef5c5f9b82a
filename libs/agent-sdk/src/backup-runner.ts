import { Topics, type BackupCommand, type BackupResult, type TopicDef } from '@vigil/events';
import { BackupRefused, readManifest, writeArchive, type BackupStore } from '@vigil/backup';
import { stderrLogger, type EventsLogger } from '@vigil/kafka';
import { CommandQueue } from './command-queue';
import type { AgentConnection } from './connection';

export interface BackupRunnerOptions {
  connection: AgentConnection;
  /** Where archives go (the orchestrator reads them back from the same store to verify them). */
  store: BackupStore;
  /** The only roots a command may name paths under; anything else is refused, unread. */
  allow: string[];
  /** Backups running at once on this host (default 1): a backup must not starve the agents. */
  concurrency?: number;
  logger?: EventsLogger;
  topics?: { results?: TopicDef<BackupResult> };
}

/**
 * Carries out backup commands: archives the requested paths into the store (see writeArchive) and
 * reports on vigil.backup.results: `running` when it starts, then `succeeded` with location, size,
 * SHA-256, manifest and duration, or `failed` with the reason (a path outside the allow-list is
 * refused before anything is read). Give `handler` to AgentSupervisor.register as the agent's
 * `backup`: it queues the command and returns at once (see CommandQueue), at most `concurrency`
 * run at once, a redelivered command is answered with its result; one lost in a crash is timed out
 * and retried by the orchestrator as a new attempt.
 */
export class BackupRunner {
  private readonly logger: EventsLogger;
  private readonly results: TopicDef<BackupResult>;
  private readonly queue: CommandQueue<BackupCommand, BackupResult>;

  constructor(private readonly options: BackupRunnerOptions) {
    this.logger = options.logger ?? stderrLogger;
    this.results = options.topics?.results ?? Topics.backupResults;
    this.queue = new CommandQueue({
      concurrency: options.concurrency ?? 1,
      run: (c) => this.archive(c),
      report: (r) => this.options.connection.producer.send(this.results, [{ value: r }]),
      logger: this.logger,
    });
  }

  /** The supervisor's backup handler. */
  readonly handler = (command: BackupCommand): Promise<void> =>
    this.queue.submit(`${command.jobId}#${command.attempt}`, command, this.result(command, 'running', {}));

  /** Resolves when nothing is queued or running (tests, and a graceful stop). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  private async archive(command: BackupCommand): Promise<BackupResult> {
    const { store, allow } = this.options;
    let result: BackupResult;
    try {
      const base =
        command.kind === 'incremental' && command.base
          ? await readManifest(store, command.base.manifestLocation)
          : undefined;
      if (command.kind === 'incremental' && !base) throw new BackupRefused('an incremental command without its base');
      const out = await writeArchive({
        jobId: command.jobId,
        agentId: command.agentId,
        kind: command.kind,
        paths: command.paths,
        allow,
        base,
        store,
        key: `${command.agentId}/${command.jobId}-a${command.attempt}`,
      });
      result = this.result(command, 'succeeded', {
        location: out.location,
        manifestLocation: out.manifestLocation,
        sizeBytes: out.sizeBytes,
        sha256: out.sha256,
        fileCount: out.fileCount,
        durationMs: out.durationMs,
      });
      this.logger.info(
        {
          agentId: command.agentId,
          jobId: command.jobId,
          kind: command.kind,
          bytes: out.sizeBytes,
          files: out.fileCount,
        },
        'backup stored',
      );
    } catch (e) {
      const why = e instanceof BackupRefused ? `refused: ${e.message}` : (e as Error).message;
      result = this.result(command, 'failed', { error: why });
      this.logger.warn({ agentId: command.agentId, jobId: command.jobId, err: why }, 'backup failed');
    }
    return result;
  }

  private result(command: BackupCommand, status: BackupResult['status'], fields: Partial<BackupResult>): BackupResult {
    return {
      jobId: command.jobId,
      agentId: command.agentId,
      status,
      location: null,
      sizeBytes: null,
      sha256: null,
      error: null,
      reportedAt: Date.now(),
      kind: command.kind,
      baseJobId: command.base?.jobId ?? null,
      manifestLocation: null,
      fileCount: null,
      durationMs: null,
      attempt: command.attempt,
      ...fields,
    };
  }
}

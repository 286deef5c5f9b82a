import { Topics, type BackupCommand, type BackupResult, type TopicDef } from '@vigil/events';
import { BackupRefused, readManifest, writeArchive, type BackupStore } from '@vigil/backup';
import { stderrLogger, type EventsLogger } from '@vigil/kafka';
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

/** Attempts remembered to answer a redelivered command without archiving again. */
const REMEMBERED = 10_000;

/**
 * Carries out backup commands: archives the requested paths into the store (see writeArchive) and
 * reports on vigil.backup.results: `running` when it starts, then `succeeded` with location, size,
 * SHA-256, manifest and duration, or `failed` with the reason (a path outside the allow-list is
 * refused before anything is read). Give `handler` to AgentSupervisor.register as the agent's
 * `backup`: it queues the command and returns at once, so a long backup holds up neither the
 * supervisor's heals nor the agent's publishing; at most `concurrency` run at once. A command seen
 * again (redelivered) is answered with its result, not archived twice; one lost in a crash is
 * timed out and retried by the orchestrator as a new attempt.
 */
export class BackupRunner {
  private readonly logger: EventsLogger;
  private readonly results: TopicDef<BackupResult>;
  private readonly limit: number;
  private readonly queue: BackupCommand[] = [];
  private running = 0;
  /** `<jobId>#<attempt>` -> its final result, or null while it runs. */
  private readonly known = new Map<string, BackupResult | null>();
  private readonly idleWaiters: Array<() => void> = [];

  constructor(private readonly options: BackupRunnerOptions) {
    this.logger = options.logger ?? stderrLogger;
    this.results = options.topics?.results ?? Topics.backupResults;
    this.limit = Math.max(1, options.concurrency ?? 1);
  }

  /** The supervisor's backup handler. */
  readonly handler = async (command: BackupCommand): Promise<void> => {
    const id = `${command.jobId}#${command.attempt}`;
    if (this.known.has(id)) {
      const done = this.known.get(id);
      if (done) await this.report(done);
      return;
    }
    this.remember(id, null);
    await this.report(this.result(command, 'running', {}));
    this.queue.push(command);
    this.next();
  };

  /** Resolves when nothing is queued or running (tests, and a graceful stop). */
  idle(): Promise<void> {
    if (this.running === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private next(): void {
    while (this.running < this.limit && this.queue.length > 0) {
      const command = this.queue.shift()!;
      this.running += 1;
      void this.archive(command).finally(() => {
        this.running -= 1;
        this.next();
        if (this.running === 0 && this.queue.length === 0) this.idleWaiters.splice(0).forEach((r) => r());
      });
    }
  }

  private async archive(command: BackupCommand): Promise<void> {
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
    this.remember(`${command.jobId}#${command.attempt}`, result);
    try {
      await this.report(result);
    } catch (e) {
      // The orchestrator times the job out and retries it: nothing is lost but time.
      this.logger.error({ jobId: command.jobId, err: (e as Error).message }, 'backup result not sent');
    }
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

  private report(result: BackupResult): Promise<unknown> {
    return this.options.connection.producer.send(this.results, [{ value: result }]);
  }

  private remember(id: string, result: BackupResult | null): void {
    this.known.delete(id);
    this.known.set(id, result);
    if (this.known.size > REMEMBERED) this.known.delete(this.known.keys().next().value!);
  }
}

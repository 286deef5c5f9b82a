import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { BackupStore } from '@vigil/backup';
import {
  Topics,
  type AgentRegistration,
  type BackupKind,
  type BackupRequest,
  type BackupResult,
  type BackupTrigger,
  type StateChangeEvent,
} from '@vigil/events';
import { groupBy, type ConsumedRecord, type EventProducer, type GroupListener } from '@vigil/kafka';
import {
  CONFIG,
  HEALTH,
  LOGGER,
  MEMBERSHIP,
  METRICS,
  PRODUCER,
  type GroupMembership,
  type HealthRegistry,
  type Logger,
  zeroed,
} from '@vigil/platform';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { OrchestratorConfig } from './config';
import { FINAL, newJob, onDue, onReport, onVerified, verdictOf, type Job, type JobStep } from './job';
import { JobStore, type OutboxEntry } from './job-store';
import { selects, type BackupPolicies, type BackupPolicy } from './policy';
import { chainHead, toPrune, type KeptBackup } from './retention';
import { verifyArchive } from './verify-archive';

export const BACKUP_STORE = Symbol('vigil.backup-store');
export const BACKUP_POLICIES = Symbol('vigil.backup-policies');

const MAX_WRITE_ATTEMPTS = 20;
const DUE_BATCH = 200;
/** An outbox entry older than this was left by a writer that stopped: whoever sweeps publishes it. */
const REPUBLISH_AFTER_MS = 5_000;

export class UnknownPolicy extends Error {}

/**
 * Backup jobs from trigger to verdict. A job is created once per trigger (its id derives from it),
 * with its command in an outbox in the same script; every later change lands only on the revision it
 * read, with what it must publish. A success the agent reports is verified by reading the archive
 * back (see verifyArchive) before it counts; only then is it kept, and retention runs on what is
 * kept. Verdicts go to vigil.backup.verified. Any instance may handle any job: results are consumed
 * by partition, timeouts and retries are swept by every instance, and revision checks keep one
 * decision per change.
 */
@Injectable()
export class BackupJobs implements GroupListener, OnModuleInit, OnApplicationShutdown {
  private timer?: NodeJS.Timeout;
  private sweeping?: Promise<void>;
  private stopped = false;
  private readonly outcomes: Counter<'outcome'>;
  private readonly bytes: Counter;
  /** Not ready before the first assignment: a result published before it would be read by nobody. */
  private readonly unassigned: () => void;

  constructor(
    readonly store: JobStore,
    @Inject(BACKUP_STORE) private readonly archives: BackupStore,
    @Inject(BACKUP_POLICIES) readonly policies: BackupPolicies,
    @Inject(PRODUCER) private readonly producer: EventProducer,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(CONFIG) private readonly config: OrchestratorConfig,
    @Inject(MEMBERSHIP) private readonly membership: GroupMembership,
    @Inject(HEALTH) health: HealthRegistry,
    @Inject(METRICS) registry: Registry,
  ) {
    this.unassigned = health.hold('waiting for the first partition assignment');
    this.outcomes = zeroed(
      new Counter({
        name: 'vigil_backup_jobs_total',
        help: 'Backup jobs decided, by verdict (verified, failed, timed_out), and attempts retried (retried)',
        labelNames: ['outcome'] as const,
        registers: [registry],
      }),
      ['verified', 'failed', 'timed_out', 'retried'].map((outcome) => ({ outcome })),
    );
    this.bytes = new Counter({
      name: 'vigil_backup_verified_bytes_total',
      help: 'Bytes of archives verified (read back and checksummed)',
      registers: [registry],
    });
    const ages = async () => {
      const agents = await store.agents();
      const out: Array<[string, number]> = [];
      for (const a of agents) {
        const newest = Math.max(0, ...(await store.kept(a.agentId)).map((b) => b.verifiedAt));
        if (newest > 0) out.push([a.agentId, (Date.now() - newest) / 1000]);
      }
      return out;
    };
    new Gauge({
      name: 'vigil_backup_last_verified_age_seconds',
      help: 'Age of the newest verified backup kept, per agent (agents with none are absent)',
      labelNames: ['agent'] as const,
      registers: [registry],
      async collect() {
        this.reset();
        for (const [agent, age] of await ages().catch(() => [])) this.set({ agent }, age);
      },
    });
  }

  onModuleInit(): void {
    this.membership.subscribe(this);
    this.timer = setInterval(() => void this.sweep(), this.config.TICK_INTERVAL_MS);
  }

  joined(): void {
    this.unassigned();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.sweeping;
  }

  policy(id: string): BackupPolicy {
    const p = this.policies.policies.find((x) => x.id === id);
    if (!p)
      throw new UnknownPolicy(
        `no backup policy "${id}" (policies: ${this.policies.policies.map((x) => x.id).join(', ') || 'none'})`,
      );
    return p;
  }

  /**
   * Creates the job a trigger asks for, once: `key` names the trigger (schedule slot, request id,
   * state change). An incremental without a complete verified chain to build on becomes a full.
   */
  async trigger(
    policy: BackupPolicy,
    agentId: string,
    kind: BackupKind,
    trigger: BackupTrigger,
    key: string,
  ): Promise<string> {
    const job = await this.create(policy, agentId, kind, trigger, key);
    await job.publish();
    return job.jobId;
  }

  /**
   * As `trigger`, but the job's command is left in the outbox for the caller to publish (`publish`
   * never throws: a command not published is the outbox sweep's to send). Nothing to publish when
   * the job existed already.
   */
  async create(
    policy: BackupPolicy,
    agentId: string,
    kind: BackupKind,
    trigger: BackupTrigger,
    key: string,
  ): Promise<{ jobId: string; publish: () => Promise<void> }> {
    const jobId = `${policy.id}/${agentId}/${kind}@${key}`;
    const now = Date.now();
    let base = null;
    if (kind === 'incremental') {
      const head = chainHead((await this.store.kept(agentId)).filter((b) => b.policyId === policy.id));
      base = head ? { jobId: head.jobId, location: head.location, manifestLocation: head.manifestLocation } : null;
    }
    const step = newJob(
      {
        jobId,
        policyId: policy.id,
        agentId,
        trigger,
        kind: base ? kind : 'full',
        base,
        paths: policy.paths,
        maxAttempts: policy.maxAttempts,
        timeoutMs: policy.timeoutMs,
        retryBackoffMs: policy.retryBackoffMs,
        requestedAt: now,
      },
      now,
    );
    const entry: OutboxEntry = { kind: 'command', value: step.command!, at: now };
    const { created, raw } = await this.store.create(step.job, entry);
    if (!created) return { jobId, publish: async () => undefined };
    this.logger.info({ jobId, agentId, kind: step.job.kind, trigger }, 'backup requested');
    return {
      jobId,
      publish: () =>
        this.publish(jobId, entry, raw!).catch((e: Error) =>
          this.logger.warn({ jobId, err: e.message }, 'command not published yet; the outbox sweep retries'),
        ),
    };
  }

  /** A manual backup (HTTP): a job of its own every time. */
  manual(policyId: string, agentId: string, kind: BackupKind): Promise<string> {
    return this.trigger(this.policy(policyId), agentId, kind, 'manual', `manual-${randomUUID()}`);
  }

  /**
   * Accepted state changes (the changelog: each version once, in order per entity): a change of an
   * entity type a policy watches backs up the entity's agent. The job id names the change, so a
   * change read again makes no second job. Deletions (tombstones) trigger nothing.
   */
  async onStateChanges(records: Array<ConsumedRecord<StateChangeEvent | null>>): Promise<void> {
    const watching = this.policies.policies.filter((p) => p.onStateChange);
    if (watching.length === 0) return;
    for (const { value } of records) {
      if (!value) continue;
      for (const policy of watching) {
        if (!policy.onStateChange!.entityTypes.includes(value.entityType)) continue;
        const agent = await this.store.agent(value.agentId);
        if (!agent || !selects(policy, { ...agent.labels, agent: agent.agentId, host: agent.host })) continue;
        await this.trigger(
          policy,
          value.agentId,
          policy.onStateChange!.kind,
          'state_change',
          `change-${value.entityId}-v${value.version}`,
        );
      }
    }
  }

  /** Backups other services ask for (the notifier before a heal): one job per request id. */
  async onRequests(records: Array<ConsumedRecord<BackupRequest>>): Promise<void> {
    for (const { value } of records) {
      const policy = this.policies.policies.find((p) => p.id === value.policyId);
      if (!policy) {
        this.logger.warn(
          { agentId: value.agentId, policyId: value.policyId, requestId: value.requestId },
          'backup request for an unknown policy: ignored',
        );
        continue;
      }
      await this.trigger(policy, value.agentId, value.kind, value.trigger, `${value.trigger}-${value.requestId}`);
    }
  }

  async onRegistrations(records: Array<ConsumedRecord<AgentRegistration | null>>): Promise<void> {
    await this.store.putAgents(records.map((r) => ({ agentId: r.key, registration: r.value })));
  }

  /** Agents' reports, each job's in order. */
  async onResults(records: Array<ConsumedRecord<BackupResult>>): Promise<void> {
    await Promise.all(
      [...groupBy(records, (r) => r.value.jobId).values()].map(async (mine) => {
        for (const r of mine) await this.onResult(r.value);
      }),
    );
  }

  private async onResult(r: BackupResult): Promise<void> {
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
      const job = await this.store.load(r.jobId);
      if (!job) {
        this.logger.warn(
          { jobId: r.jobId, agentId: r.agentId },
          'a backup result for a job this orchestrator never asked for',
        );
        return;
      }
      const now = Date.now();
      if (FINAL.has(job.status) && job.verdict && job.attempt === r.attempt && r.status !== 'running') {
        // Read again after a crash between deciding and publishing: the verdict goes out (again).
        await this.publishVerdictOf(job);
        return;
      }
      const decided = onReport(job, r, now);
      const step: JobStep = decided === 'verify' ? onVerified(job, r, await this.verifyReported(job, r), now) : decided;
      if (step.noop) return;
      if (await this.apply(job, step, now)) return;
    }
    throw new Error(`job ${r.jobId} kept changing under ${MAX_WRITE_ATTEMPTS} writes; batch redone`);
  }

  private async verifyReported(job: Job, r: BackupResult): Promise<string | undefined> {
    const problem = await verifyArchive(this.archives, r);
    if (problem) return problem;
    if (job.kind === 'incremental' && job.base) {
      const base = await this.store.load(job.base.jobId);
      if (base?.status !== 'succeeded')
        return `its base ${job.base.jobId} is not verified (${base?.status ?? 'unknown'})`;
    }
    this.bytes.inc(r.sizeBytes ?? 0);
    return undefined;
  }

  /**
   * Reads a kept backup back again (a scrub, or on request): still there, same size and SHA-256.
   * A backup that fails is no longer kept (nothing builds on it) and gets a failed verdict.
   */
  async reverify(jobId: string): Promise<Job> {
    for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
      const job = await this.store.load(jobId);
      if (!job || job.status !== 'succeeded' || !job.result) throw new UnknownPolicy(`no verified backup ${jobId}`);
      const now = Date.now();
      const problem = await verifyArchive(this.archives, job.result);
      if (!problem) return job;
      const failed: Job = { ...job, status: 'failed', updatedAt: now };
      const verdict = verdictOf(failed, 'failed', `re-verification: ${problem}`, now);
      if (await this.apply(job, { job: { ...failed, verdict }, verdict }, now)) return { ...failed, verdict };
    }
    throw new Error(`job ${jobId} kept changing`);
  }

  /** Writes a step and publishes what it decided; false when the job changed meanwhile (read again). */
  private async apply(read: Job, step: JobStep, now: number): Promise<boolean> {
    const entry: OutboxEntry | undefined = step.command
      ? { kind: 'command', value: step.command, at: now }
      : step.verdict
        ? { kind: 'verdict', value: step.verdict, at: now }
        : undefined;
    const { written, raw } = await this.store.write(read, step.job, entry);
    if (!written) return false;
    if (step.verdict) await this.decided(step.job, step.verdict.verdict);
    if (entry) await this.publish(read.jobId, entry, raw!);
    if (step.command && step.command.attempt > 1) this.outcomes.inc({ outcome: 'retried' });
    return true;
  }

  /** Bookkeeping of a verdict: what is kept, and retention over it. */
  private async decided(job: Job, verdict: string): Promise<void> {
    this.outcomes.inc({ outcome: verdict });
    this.logger.info(
      { jobId: job.jobId, agentId: job.agentId, verdict, reason: job.verdict?.reason },
      'backup decided',
    );
    if (verdict !== 'verified') {
      await this.store.unkeep(job.agentId, [job.jobId]);
      return;
    }
    const r = job.result!;
    const kept: KeptBackup = {
      jobId: job.jobId,
      policyId: job.policyId,
      kind: job.kind,
      baseJobId: job.base?.jobId ?? null,
      location: r.location!,
      manifestLocation: r.manifestLocation!,
      sizeBytes: r.sizeBytes!,
      sha256: r.sha256!,
      verifiedAt: job.verdict!.verifiedAt,
    };
    await this.store.keep(job.agentId, kept);
    await this.prune(
      job.agentId,
      this.policies.policies.find((p) => p.id === job.policyId),
    );
  }

  private async prune(agentId: string, policy: BackupPolicy | undefined): Promise<void> {
    if (!policy) return;
    const mine = (await this.store.kept(agentId)).filter((b) => b.policyId === policy.id);
    for (const b of toPrune(mine, policy.retention, Date.now())) {
      // The index first: a backup no longer listed is never a base, even if deleting it fails.
      await this.store.unkeep(agentId, [b.jobId]);
      await Promise.all([this.archives.delete(b.location), this.archives.delete(b.manifestLocation)]);
      this.logger.info({ agentId, jobId: b.jobId, kind: b.kind }, 'backup pruned by retention');
    }
  }

  private async publishVerdictOf(job: Job): Promise<void> {
    await this.producer.send(Topics.backupVerified, [{ value: job.verdict! }]);
  }

  private async publish(jobId: string, entry: OutboxEntry, raw: string): Promise<void> {
    if (entry.kind === 'command') await this.producer.send(Topics.backupCommands, [{ value: entry.value }]);
    else await this.producer.send(Topics.backupVerified, [{ value: entry.value }]);
    await this.store.published(jobId, raw);
  }

  /** Due timeouts and retries, and outbox entries a stopped writer left. */
  sweep(): Promise<void> {
    if (this.stopped || this.sweeping) return this.sweeping ?? Promise.resolve();
    this.sweeping = (async () => {
      try {
        const now = Date.now();
        for (const jobId of await this.store.due(now, DUE_BATCH)) {
          const job = await this.store.load(jobId);
          if (!job) continue;
          const step = onDue(job, now);
          if (!step.noop) await this.apply(job, step, now);
        }
        for (const o of await this.store.outbox()) {
          if (now - o.entry.at > REPUBLISH_AFTER_MS) await this.publish(o.jobId, o.entry, o.raw);
        }
      } catch (e) {
        this.logger.warn({ err: (e as Error).message }, 'backup sweep failed; retried on the next tick');
      } finally {
        this.sweeping = undefined;
      }
    })();
    return this.sweeping;
  }
}

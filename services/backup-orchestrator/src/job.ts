import type {
  BackupBase,
  BackupCommand,
  BackupKind,
  BackupResult,
  BackupTrigger,
  BackupVerified,
  BackupVerdict,
} from '@vigil/events';

export type JobStatus = 'requested' | 'running' | 'succeeded' | 'failed' | 'timed_out';
export const FINAL: ReadonlySet<JobStatus> = new Set(['succeeded', 'failed', 'timed_out']);

/**
 * One backup job, from the trigger that asked for it to the orchestrator's verdict. Its id derives
 * from what triggered it (policy, agent, kind and schedule slot; or the manual request; or the
 * state change), so the same trigger seen twice, or by two instances, is one job.
 */
export interface Job {
  jobId: string;
  /** Bumped by every write; a write only lands on the revision it read. */
  rev: number;
  policyId: string;
  agentId: string;
  trigger: BackupTrigger;
  kind: BackupKind;
  base: BackupBase | null;
  paths: string[];
  status: JobStatus;
  attempt: number;
  maxAttempts: number;
  timeoutMs: number;
  retryBackoffMs: number;
  requestedAt: number;
  /** When the running attempt times out, or the retry is due (status requested, not yet sent). */
  dueAt: number;
  /** The current attempt's command has not been published yet (a retry waiting for its backoff). */
  waiting: boolean;
  result?: Pick<BackupResult, 'location' | 'manifestLocation' | 'sizeBytes' | 'sha256' | 'fileCount' | 'durationMs'>;
  verdict?: BackupVerified;
  updatedAt: number;
}

/** What a step decided: the job to store and what to publish with it. */
export interface JobStep {
  job: Job;
  command?: BackupCommand;
  verdict?: BackupVerified;
  /** Nothing changed (a stale or repeated report). */
  noop?: boolean;
}

export function commandOf(job: Job, now: number): BackupCommand {
  return {
    jobId: job.jobId,
    agentId: job.agentId,
    policyId: job.policyId,
    trigger: job.trigger,
    paths: job.paths,
    attempt: job.attempt,
    requestedAt: now,
    timeoutMs: job.timeoutMs,
    kind: job.kind,
    base: job.base,
  };
}

export function verdictOf(job: Job, verdict: BackupVerdict, reason: string | null, now: number): BackupVerified {
  return {
    jobId: job.jobId,
    agentId: job.agentId,
    policyId: job.policyId,
    kind: job.kind,
    baseJobId: job.base?.jobId ?? null,
    verdict,
    reason,
    location: job.result?.location ?? null,
    manifestLocation: job.result?.manifestLocation ?? null,
    sizeBytes: job.result?.sizeBytes ?? null,
    sha256: job.result?.sha256 ?? null,
    attempt: job.attempt,
    verifiedAt: now,
  };
}

/** A new job and its first command. */
export function newJob(
  fields: Omit<Job, 'rev' | 'status' | 'attempt' | 'dueAt' | 'waiting' | 'updatedAt'>,
  now: number,
): JobStep {
  const job: Job = {
    ...fields,
    rev: 0,
    status: 'requested',
    attempt: 1,
    dueAt: now + fields.timeoutMs,
    waiting: false,
    updatedAt: now,
  };
  return { job, command: commandOf(job, now) };
}

/** The attempt failed (reported, or timed out): another after the backoff, or the final verdict. */
export function failAttempt(job: Job, reason: string, timedOut: boolean, now: number): JobStep {
  if (job.attempt < job.maxAttempts) {
    return {
      job: {
        ...job,
        status: 'requested',
        attempt: job.attempt + 1,
        waiting: true,
        dueAt: now + job.retryBackoffMs,
        updatedAt: now,
      },
    };
  }
  const status: JobStatus = timedOut ? 'timed_out' : 'failed';
  const final = { ...job, status, updatedAt: now };
  const verdict = verdictOf(
    final,
    timedOut ? 'timed_out' : 'failed',
    `attempt ${job.attempt} of ${job.maxAttempts}: ${reason}`,
    now,
  );
  return { job: { ...final, verdict }, verdict };
}

/** A due job: a retry whose backoff passed is sent; an attempt out of time fails. */
export function onDue(job: Job, now: number): JobStep {
  if (FINAL.has(job.status) || job.dueAt > now) return { job, noop: true };
  if (job.waiting) {
    const next = { ...job, waiting: false, dueAt: now + job.timeoutMs, updatedAt: now };
    return { job: next, command: commandOf(next, now) };
  }
  return failAttempt(job, `no outcome within ${job.timeoutMs} ms`, true, now);
}

/**
 * An agent's report. Reports of another attempt, or on a job already decided, change nothing.
 * A success is not a verdict: `verify` (which reads the archive back) decides, see onVerified.
 */
export function onReport(job: Job, r: BackupResult, now: number): JobStep | 'verify' {
  if (r.attempt !== job.attempt || FINAL.has(job.status) || job.waiting) return { job, noop: true };
  if (r.status === 'running') {
    if (job.status === 'running') return { job, noop: true };
    return { job: { ...job, status: 'running', updatedAt: now } };
  }
  if (r.status === 'succeeded') return 'verify';
  return failAttempt(job, r.error ?? `the agent reported ${r.status}`, r.status === 'timed_out', now);
}

/** The archive of a reported success was read back: verified, or failed with why (not retried: the store is suspect). */
export function onVerified(job: Job, r: BackupResult, problem: string | undefined, now: number): JobStep {
  const result = {
    location: r.location,
    manifestLocation: r.manifestLocation,
    sizeBytes: r.sizeBytes,
    sha256: r.sha256,
    fileCount: r.fileCount,
    durationMs: r.durationMs,
  };
  const decided: Job = { ...job, result, status: problem ? 'failed' : 'succeeded', updatedAt: now };
  const verdict = verdictOf(decided, problem ? 'failed' : 'verified', problem ?? null, now);
  return { job: { ...decided, verdict }, verdict };
}

/**
 * The backup orchestrator's keys, shared by all its instances (one hash slot per consumer group:
 * a job's write and its outbox entry are one script).
 */
export const backupKeys = (group: string) => ({
  /** Hash: job id -> the job (JSON, with its revision). */
  jobs: `vigil:{bo:${group}}:jobs`,
  /** Sorted set: job id scored by when it times out or its retry is due (ms since epoch). */
  jobDue: `vigil:{bo:${group}}:job-due`,
  /** Hash: job id -> what is still to publish for it (JSON: command or verdict, revision, when). */
  outbox: `vigil:{bo:${group}}:outbox`,
  /** Hash: agent id -> its registration (JSON), from vigil.agent.registry. */
  agents: `vigil:{bo:${group}}:agents`,
  /** Hash per agent: job id -> a verified backup that is kept (JSON); retention deletes from it. */
  backups: (agentId: string) => `vigil:{bo:${group}}:backups:${agentId}`,
  /** Hash: plan id -> a restore plan and its progress (JSON, with its revision). */
  restorePlans: `vigil:{bo:${group}}:restore-plans`,
  /** Set: ids of the plans the tick still advances (running, or failed with steps in flight). */
  restoreActive: `vigil:{bo:${group}}:restore-active`,
  /** Hash: agent id -> broker time of its newest healthy heartbeat, kept only while a plan awaits it. */
  restoreHealth: `vigil:{bo:${group}}:restore-health`,
});

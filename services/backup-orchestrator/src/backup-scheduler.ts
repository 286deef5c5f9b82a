import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { BackupKind } from '@vigil/events';
import { CONFIG, LOGGER, type Logger } from '@vigil/platform';
import { BackupJobs } from './backup-jobs';
import type { OrchestratorConfig } from './config';
import { latestSlot, selects } from './policy';
import { Ticker } from './ticker';

const KINDS: BackupKind[] = ['full', 'incremental'];

/**
 * Fires the policies' cron schedules: at each tick, the newest slot of each schedule (within the
 * misfire grace) becomes one job per selected agent. Every instance ticks; the job id names the
 * slot, so a slot fires once across instances and restarts. A full and an incremental due in the
 * same slot make the full only. Also scrubs: every SCRUB_INTERVAL_MS each kept backup is read back.
 */
@Injectable()
export class BackupScheduler implements OnModuleInit, OnApplicationShutdown {
  private readonly ticker: Ticker;
  /** Slots this instance already turned into jobs (saves asking Redis again every tick). */
  private fired = new Set<string>();
  private lastScrub = Date.now();

  constructor(
    private readonly jobs: BackupJobs,
    @Inject(CONFIG) private readonly config: OrchestratorConfig,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {
    this.ticker = new Ticker(() => this.tick(), config.TICK_INTERVAL_MS);
  }

  onModuleInit(): void {
    this.ticker.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.ticker.stop();
  }

  private async tick(): Promise<void> {
    try {
      await this.fire(Date.now());
      if (this.config.SCRUB_INTERVAL_MS > 0 && Date.now() - this.lastScrub >= this.config.SCRUB_INTERVAL_MS) {
        this.lastScrub = Date.now();
        await this.scrub();
      }
    } catch (e) {
      this.logger.warn({ err: (e as Error).message }, 'backup schedule tick failed; retried on the next one');
    }
  }

  /**
   * Turns the schedules' newest slots as of `now` into jobs. Every job of a slot is in Redis before
   * any of their commands is sent: a send held up by a broker failover must not leave the slot's
   * other agents without their job when this instance dies meanwhile and no other instance ticks
   * again before the next slot (a slot that is no longer the newest is not fired).
   */
  async fire(now: number): Promise<void> {
    const policies = this.jobs.policies.policies.filter((p) => p.full || p.incremental);
    if (policies.length === 0) return;
    const agents = await this.jobs.store.agents();
    const firedNow = new Set<string>();
    const commands: Array<() => Promise<void>> = [];
    for (const policy of policies) {
      const slots = new Map<BackupKind, number | undefined>(
        KINDS.map((k) => [k, policy[k] ? latestSlot(policy[k]!, now, now - this.config.MISFIRE_GRACE_MS) : undefined]),
      );
      if (slots.get('full') !== undefined && slots.get('full') === slots.get('incremental'))
        slots.delete('incremental');
      for (const [kind, slot] of slots) {
        if (slot === undefined) continue;
        for (const a of agents) {
          if (slot < a.registeredAt || !selects(policy, { ...a.labels, agent: a.agentId, host: a.host })) continue;
          const key = `${policy.id}/${a.agentId}/${kind}@${slot}`;
          firedNow.add(key);
          if (this.fired.has(key)) continue;
          const job = await this.jobs.create(policy, a.agentId, kind, 'scheduled', new Date(slot).toISOString());
          commands.push(job.publish);
        }
      }
    }
    await Promise.all(commands.map((publish) => publish()));
    this.fired = firedNow; // only the current slots: the set stays the size of the fleet
  }

  private async scrub(): Promise<void> {
    for (const a of await this.jobs.store.agents()) {
      for (const b of await this.jobs.store.kept(a.agentId)) await this.jobs.reverify(b.jobId).catch(() => undefined);
    }
  }
}

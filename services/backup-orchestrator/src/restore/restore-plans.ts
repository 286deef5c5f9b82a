import { randomBytes } from 'node:crypto';
import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Topics, type Heartbeat, type RestoreCommand, type RestoreResult } from '@vigil/events';
import { ConsumerRunner, groupBy, type ConsumedRecord } from '@vigil/kafka';
import { CONFIG, LOGGER, METRICS, ServiceResources, type Logger } from '@vigil/platform';
import { Counter, type Registry } from 'prom-client';
import type { OrchestratorConfig } from '../config';
import { JobStore } from '../job-store';
import { selects } from '../policy';
import { newestChain } from '../retention';
import { Ticker } from '../ticker';
import { planRestore, type PlanAgent, type PlanSettings } from './restore-plan';
import { RestorePlanStore } from './restore-plan-store';
import {
  advance,
  IN_FLIGHT,
  onResult,
  restoreIdOf,
  stepTimeoutMs,
  type ProgressSettings,
  type RestorePlan,
} from './restore-progress';

/** A plan request that cannot be planned: the message says why (unknown agents, a cycle). */
export class PlanRefused extends Error {}
/** A plan that cannot run (now): not a draft, or it has problems. */
export class PlanNotRunnable extends Error {}

export interface PlanRequest {
  agents: string[];
  selector: string[];
  targetDir: string | null;
}

const MAX_WRITE_ATTEMPTS = 20;

/**
 * Restore plans from request to report. A plan is computed from the agent registry (tier,
 * dependencies) and the kept backups (newest verified chain) as a draft (the dry run); running it
 * sends one restore command per step as its dependencies finish, gated on the restored agent's next
 * healthy heartbeat, and stops at the first failure. Plans live in Redis and every change lands on
 * the revision it read, so any instance advances any plan and a restarted orchestrator resumes
 * where it was: results are applied by whoever consumes them, and every instance's tick advances
 * the active plans (timeouts, health gates, the next steps, commands to resend).
 */
@Injectable()
export class RestorePlans implements OnModuleInit, OnApplicationShutdown {
  private readonly ticker: Ticker;
  /** Agents a plan waits on (restoring or awaiting health): only their heartbeats are decoded. */
  private awaited = new Set<string>();
  private readonly health: ConsumerRunner;
  private readonly steps: Counter<'outcome'>;
  private readonly planSettings: PlanSettings;
  private readonly progress: ProgressSettings;

  constructor(
    private readonly jobs: JobStore,
    readonly store: RestorePlanStore,
    private readonly resources: ServiceResources,
    @Inject(CONFIG) config: OrchestratorConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(METRICS) registry: Registry,
  ) {
    this.ticker = new Ticker(() => this.tick(), config.TICK_INTERVAL_MS);
    this.planSettings = {
      rtoMs: config.RESTORE_RTO,
      bytesPerSecond: config.RESTORE_THROUGHPUT_MBPS * 1e6,
      parallelism: config.RESTORE_PARALLELISM,
      stepOverheadMs: config.RESTORE_STEP_OVERHEAD_MS,
    };
    this.progress = {
      parallelism: config.RESTORE_PARALLELISM,
      resendAfterMs: config.RESTORE_RESEND_AFTER_MS,
      healthTimeoutMs: config.RESTORE_HEALTH_TIMEOUT_MS,
      minStepTimeoutMs: config.RESTORE_STEP_TIMEOUT_MS,
    };
    this.steps = new Counter({
      name: 'vigil_restore_steps_total',
      help: 'Restore plan steps finished, by outcome (done: restored and healthy again)',
      labelNames: ['outcome'],
      registers: [registry],
    });
    // Its own group on the heartbeats, from their end: only heartbeats after a restore matter, and
    // records of agents no plan waits on are passed over undecoded.
    this.health = new ConsumerRunner({
      kafka: resources.kafka,
      codec: resources.codec,
      producer: resources.producer,
      groupId: `${config.CONSUMER_GROUP}-restore-health`,
      subscriptions: [
        {
          topic: Topics.heartbeats,
          fromBeginning: false,
          acceptKey: (agentId: string) => this.awaited.has(agentId),
          handler: (records: Array<ConsumedRecord<Heartbeat>>) => this.onHeartbeats(records),
        } as never,
      ],
      deadLetters: 'log',
      logger: logger.child({ component: 'restore-health' }),
      metrics: resources.eventsMetrics,
    });
  }

  async onModuleInit(): Promise<void> {
    await this.refreshAwaited();
    await this.health.start();
    this.ticker.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.ticker.stop();
    await this.health.stop();
  }

  /** The dry run: a draft plan with its order, estimates and RTO misses (stored, so it can be run). */
  async create(req: PlanRequest): Promise<RestorePlan> {
    const registered = await this.jobs.agents();
    const byId = new Map(registered.map((a) => [a.agentId, a]));
    const unknown = req.agents.filter((id) => !byId.has(id));
    if (unknown.length > 0) throw new PlanRefused(`not registered: ${unknown.join(', ')}`);
    const chosen = new Set(req.agents);
    if (req.selector.length > 0)
      for (const a of registered)
        if (selects({ selector: req.selector }, { ...a.labels, agent: a.agentId, host: a.host })) chosen.add(a.agentId);
    if (chosen.size === 0) throw new PlanRefused('no agent selected: give agents or a selector that matches some');
    const agents: PlanAgent[] = await Promise.all(
      [...chosen].map(async (id) => {
        const a = byId.get(id)!;
        const chain = newestChain(await this.jobs.kept(id));
        return {
          agentId: id,
          tier: a.priorityTier,
          dependencies: a.dependencies,
          heartbeatIntervalMs: a.intervalMs,
          chain: chain
            ? chain.map((b) => ({
                jobId: b.jobId,
                kind: b.kind,
                location: b.location,
                manifestLocation: b.manifestLocation,
                sizeBytes: b.sizeBytes,
                sha256: b.sha256,
              }))
            : null,
        };
      }),
    );
    const planned = planRestore(agents, this.planSettings);
    if (!planned.ok) throw new PlanRefused(`dependency cycle: ${planned.cycle.join(' -> ')}`);
    const plan: RestorePlan = {
      planId: `rp-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`,
      rev: 0,
      status: 'draft',
      createdAt: Date.now(),
      startedAt: null,
      finishedAt: null,
      targetDir: req.targetDir,
      steps: planned.steps,
      warnings: planned.warnings,
      problems: planned.problems,
      estimateMs: planned.estimateMs,
      rtoMisses: planned.steps.filter((s) => s.missesRto).map((s) => s.agentId),
      stoppedBy: null,
    };
    await this.store.create(plan);
    this.logger.info(
      { planId: plan.planId, steps: plan.steps.length, estimateMs: plan.estimateMs, rtoMisses: plan.rtoMisses },
      'restore plan drafted',
    );
    return plan;
  }

  /** Starts a draft; its first steps are commanded at once. */
  async run(planId: string): Promise<RestorePlan> {
    for (let i = 0; i < MAX_WRITE_ATTEMPTS; i++) {
      const plan = await this.store.load(planId);
      if (!plan) throw new PlanNotRunnable(`no restore plan ${planId}`);
      if (plan.status !== 'draft') throw new PlanNotRunnable(`plan ${planId} is ${plan.status}, not a draft`);
      if (plan.problems.length > 0) throw new PlanNotRunnable(`plan ${planId} cannot run: ${plan.problems.join('; ')}`);
      const written = await this.store.write(plan, { ...plan, status: 'running', startedAt: Date.now() });
      if (!written) continue;
      this.logger.info({ planId }, 'restore plan running');
      for (const s of written.steps) this.awaited.add(s.agentId);
      return (await this.advancePlan(planId)) ?? written;
    }
    throw new Error(`plan ${planId} kept changing; try again`);
  }

  /** Results from agents: each applied to its step (stale attempts and repeats are ignored). */
  async onResults(records: Array<ConsumedRecord<RestoreResult>>): Promise<void> {
    for (const [planId, mine] of groupBy(records, (r) => r.value.planId)) {
      for (const r of mine) await this.update(planId, (plan) => onResult(plan, r.value, Date.now()));
      await this.advancePlan(planId);
    }
  }

  private async onHeartbeats(records: Array<ConsumedRecord<Heartbeat>>): Promise<void> {
    for (const r of records) if (r.value.status === 'ok') await this.store.markHealthy(r.value.agentId, r.timestamp);
  }

  /** Applies `change` to the plan as stored, again on a conflicting write; the plan as written. */
  private async update(
    planId: string,
    change: (plan: RestorePlan) => RestorePlan | undefined,
  ): Promise<RestorePlan | undefined> {
    for (let i = 0; i < MAX_WRITE_ATTEMPTS; i++) {
      const plan = await this.store.load(planId);
      const next = plan && change(plan);
      if (!next) return undefined;
      const written = await this.store.write(plan, next);
      if (written) {
        this.count(plan, written);
        return written;
      }
    }
    this.logger.warn({ planId }, 'restore plan update lost to concurrent writers; the next tick retries');
    return undefined;
  }

  private async advancePlan(planId: string): Promise<RestorePlan | undefined> {
    let send: RestorePlan['steps'] = [];
    const written = await (async () => {
      const current = await this.store.load(planId);
      if (!current) return undefined;
      const healthy = await this.store.healthy(
        current.steps.filter((s) => s.status === 'awaiting_health').map((s) => s.agentId),
      );
      return this.update(planId, (plan) => {
        const out = advance(plan, Date.now(), this.progress, (id) => healthy.get(id));
        send = out?.send ?? [];
        return out?.plan;
      });
    })().catch((e: Error) => {
      this.logger.warn({ planId, err: e.message }, 'restore plan not advanced; the next tick retries');
      return undefined;
    });
    if (!written) return undefined;
    for (const step of send) {
      const command: RestoreCommand = {
        restoreId: restoreIdOf(planId, step.agentId),
        planId,
        agentId: step.agentId,
        chain: step.chain ?? [],
        targetDir: written.targetDir,
        attempt: step.attempt,
        requestedAt: Date.now(),
        timeoutMs: stepTimeoutMs(step, this.progress),
      };
      // Lost if this instance stops now: the tick resends what stays unacknowledged.
      await this.resources.producer
        .send(Topics.restoreCommands, [{ value: command }])
        .catch((e: Error) =>
          this.logger.warn({ planId, agentId: step.agentId, err: e.message }, 'restore command not sent'),
        );
      this.logger.info({ planId, agentId: step.agentId, attempt: step.attempt }, 'restore step commanded');
    }
    return written;
  }

  private count(before: RestorePlan, after: RestorePlan): void {
    after.steps.forEach((s, i) => {
      const was = before.steps[i]!.status;
      if (was !== s.status && (s.status === 'done' || s.status === 'failed' || s.status === 'skipped')) {
        this.steps.inc({ outcome: s.status });
        this.logger.info(
          { planId: after.planId, agentId: s.agentId, status: s.status, error: s.error },
          'restore step finished',
        );
      }
    });
    if (before.status !== after.status && after.status !== 'running')
      this.logger.info(
        { planId: after.planId, status: after.status, stoppedBy: after.stoppedBy },
        'restore plan finished',
      );
  }

  private async refreshAwaited(): Promise<RestorePlan[]> {
    const plans = (await Promise.all((await this.store.active()).map((id) => this.store.load(id)))).filter(
      (p): p is RestorePlan => p !== undefined,
    );
    this.awaited = new Set(
      plans.flatMap((p) =>
        p.steps.filter((s) => s.status === 'pending' || IN_FLIGHT.has(s.status)).map((s) => s.agentId),
      ),
    );
    return plans;
  }

  private async tick(): Promise<void> {
    try {
      const before = this.awaited;
      const plans = await this.refreshAwaited();
      for (const plan of plans) await this.advancePlan(plan.planId);
      await this.store.forgetHealth([...before].filter((id) => !this.awaited.has(id)));
    } catch (e) {
      this.logger.warn({ err: (e as Error).message }, 'restore tick failed; retried on the next one');
    }
  }
}

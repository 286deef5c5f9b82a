import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  AgentConnection,
  AgentPublisher,
  AgentSupervisor,
  BackupRunner,
  FileSystemStore,
  type HealOutcome,
  type HeartbeatReport,
  type AgentConnectionOptions,
} from '@vigil/agent-sdk';
import type { BackupCommand, HealCommand } from '@vigil/events';
import type { HealthCheck } from '@vigil/events';
import type { EventsLogger } from '@vigil/kafka';

export interface FleetOptions {
  agents: number;
  prefix: string;
  intervalMs: number;
  missThreshold: number;
  startPeriodMs: number;
  /** State changes per second across the whole fleet (each from a random beating agent). */
  stateChangeRate: number;
  brokers: string[];
  registryUrl: string;
  /** SASL/TLS to Kafka and basic auth to the registry, as the agents' connections use them. */
  security?: AgentConnectionOptions['security'];
  registryAuth?: AgentConnectionOptions['registryAuth'];
  dataDir?: string;
  /** Agents per shared Kafka connection. */
  agentsPerConnection: number;
  /** Agents per simulated host (the `host` of their registration; default 10). */
  agentsPerHost?: number;
  /**
   * Answer heal commands as a host supervisor would: after `latencyMs`, a heal succeeds with
   * probability `success` (a killed agent restarts, a degraded one passes its checks again).
   * Without it nobody answers (the notifier's heals time out).
   */
  heal?: { success: number; latencyMs: number };
  /**
   * Answer backup commands as the SDK's BackupRunner does, into a directory store (the one the
   * orchestrator's BACKUP_STORE_DIR names), archiving only under `allow`. A killed agent answers none.
   */
  backups?: { storeDir: string; allow: string[] };
  logger: EventsLogger;
}

/** How a simulated agent is behaving, as the simulator made it. */
export type AgentMode = 'beating' | 'killed' | 'frozen' | 'flapping' | 'stopped';

interface SimAgent {
  id: string;
  index: number;
  publisher: AgentPublisher;
  mode: AgentMode;
  skewMs: number;
  failedCheck?: string;
  timers: NodeJS.Timeout[];
  /** Wall time of the last heartbeat this agent queued (for the summary and the tests). */
  lastBeatAt?: number;
}

/** What the simulator did, as one line of JSON on stdout. */
export interface FleetEvent {
  event: string;
  at: number;
  agents?: string[];
  [k: string]: unknown;
}

/**
 * N agents, each a real AgentPublisher (journal, heartbeats, state changes), sharing a few Kafka
 * connections the way agents on one host can. Failures on command: kill (silent, like a crash),
 * revive (a new process: new boot id), freeze for a while, flap, skew the agent's clock, degrade
 * (a failing dependency check), stop cleanly (deregistration).
 */
export class Fleet {
  private readonly agents: SimAgent[] = [];
  private readonly connections: AgentConnection[] = [];
  private readonly dataDir: string;
  private stateTimer?: NodeJS.Timeout;
  private stateChanges = 0;
  private stateRefused = 0;
  private supervisor?: AgentSupervisor;

  constructor(
    private readonly options: FleetOptions,
    private readonly emit: (e: FleetEvent) => void,
  ) {
    this.dataDir = options.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'vigil-fleet-'));
  }

  get size(): number {
    return this.agents.length;
  }

  /** Starts every agent, their first heartbeats spread over one interval so the fleet does not beat in lockstep. */
  async start(onProgress?: (started: number) => void): Promise<void> {
    const { agents, agentsPerConnection } = this.options;
    for (let i = 0; i < Math.ceil(agents / agentsPerConnection); i++) {
      this.connections.push(
        new AgentConnection({
          brokers: this.options.brokers,
          registryUrl: this.options.registryUrl,
          clientId: `fleet-sim-${i}`,
          logger: this.options.logger,
          security: this.options.security,
          registryAuth: this.options.registryAuth,
        }),
      );
    }
    const width = String(agents - 1).length;
    for (let i = 0; i < agents; i++) {
      const id = `${this.options.prefix}-${String(i).padStart(width, '0')}`;
      const agent: SimAgent = { id, index: i, publisher: this.open(id, i), mode: 'beating', skewMs: 0, timers: [] };
      this.agents.push(agent);
      const delay = Math.floor((i / agents) * this.options.intervalMs);
      agent.timers.push(setTimeout(() => this.beat(agent), delay));
      if (i % 1000 === 999) {
        onProgress?.(i + 1);
        await new Promise((r) => setImmediate(r));
      }
    }
    onProgress?.(agents);
    if (this.options.heal || this.options.backups) await this.startSupervisor();
    if (this.options.stateChangeRate > 0) {
      const every = Math.max(10, Math.floor(1000 / this.options.stateChangeRate));
      const perTick = Math.max(1, Math.round((this.options.stateChangeRate * every) / 1000));
      this.stateTimer = setInterval(() => this.publishStateChanges(perTick), every);
    }
    this.emit({ event: 'started', at: Date.now(), count: agents, dataDir: this.dataDir });
  }

  /** Picks agents by count (random among those in `from` modes) or by id. */
  pick(selector: string[], from: AgentMode[]): SimAgent[] {
    if (selector.length === 1 && /^\d+$/.test(selector[0]!)) {
      const candidates = this.agents.filter((a) => from.includes(a.mode));
      for (let i = candidates.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [candidates[i], candidates[j]] = [candidates[j]!, candidates[i]!];
      }
      return candidates.slice(0, Number(selector[0]));
    }
    const wanted = new Set(selector);
    return this.agents.filter((a) => wanted.has(a.id));
  }

  /** Silent death, as in a crash: no more heartbeats, no `stopping`. */
  kill(agents: SimAgent[]): void {
    for (const a of agents) this.silence(a, 'killed');
    this.emitFor('killed', agents);
  }

  /** The agent's process comes back: a new publisher, so a new boot id; its start period applies again. */
  revive(agents: SimAgent[]): void {
    for (const a of agents) {
      this.silence(a, 'beating');
      void a.publisher.close(0, { deregister: false });
      a.publisher = this.open(a.id, a.index);
      this.beat(a);
    }
    this.emitFor('revived', agents);
  }

  /** Silent for `ms`, then beating again with the same boot id (a stalled, not a dead, process). */
  freeze(agents: SimAgent[], ms: number): void {
    for (const a of agents) {
      this.silence(a, 'frozen');
      a.timers.push(
        setTimeout(() => {
          a.mode = 'beating';
          this.beat(a);
          this.emitFor('thawed', [a]);
        }, ms),
      );
    }
    this.emitFor('frozen', agents, { ms });
  }

  /** Alternates `upMs` beating and `downMs` silent until told otherwise (revive). */
  flap(agents: SimAgent[], upMs: number, downMs: number): void {
    for (const a of agents) {
      this.silence(a, 'flapping');
      const cycle = (up: boolean) => {
        if (a.mode !== 'flapping') return;
        if (up) this.beat(a, 'flapping');
        else a.publisher.stopHeartbeats();
        a.timers = [setTimeout(() => cycle(!up), up ? upMs : downMs)];
      };
      cycle(true);
    }
    this.emitFor('flapping', agents, { upMs, downMs });
  }

  /** Moves the agent's own clock; its heartbeats carry the skewed timestamps. */
  skew(agents: SimAgent[], ms: number): void {
    for (const a of agents) a.skewMs = ms;
    this.emitFor('skewed', agents, { ms });
  }

  degrade(agents: SimAgent[], check: string): void {
    for (const a of agents) a.failedCheck = check;
    this.emitFor('degraded', agents, { check });
  }

  heal(agents: SimAgent[]): void {
    for (const a of agents) a.failedCheck = undefined;
    this.emitFor('healed', agents);
  }

  /** Clean shutdown: the SDK sends a final `stopping` heartbeat, so the agent is deregistered. */
  async stop(agents: SimAgent[]): Promise<void> {
    for (const a of agents) this.silence(a, 'stopped');
    this.emitFor('stopping', agents);
    await Promise.all(agents.map((a) => a.publisher.close(2000, { deregister: true })));
    this.emitFor('stopped', agents);
  }

  /**
   * Each agent publishes `count` changes of its entity `<id>/probe`, one after another, now; says
   * per agent which were accepted (id and version) and why the others were refused (a full disk:
   * the journal's ENOSPC). Any mode: a killed agent's process is gone in the story, not its journal.
   */
  async publishNow(agents: SimAgent[], count: number): Promise<void> {
    const results: Record<string, { accepted: Array<{ eventId: string; version: number }>; refused: string[] }> = {};
    for (const a of agents) {
      const mine = (results[a.id] = {
        accepted: [] as Array<{ eventId: string; version: number }>,
        refused: [] as string[],
      });
      for (let i = 0; i < count; i++) {
        const r = await a.publisher.publishStateChange({ id: `${a.id}/probe`, type: 'probe' }, 'updated', { n: i });
        if (r.accepted) mine.accepted.push({ eventId: r.eventId!, version: r.version! });
        else mine.refused.push(r.reason ?? 'refused');
      }
    }
    this.emitFor('published', agents, { results });
  }

  counts(): Record<AgentMode, number> & { degraded: number; skewed: number } {
    const c = { beating: 0, killed: 0, frozen: 0, flapping: 0, stopped: 0, degraded: 0, skewed: 0 };
    for (const a of this.agents) {
      c[a.mode] += 1;
      if (a.failedCheck) c.degraded += 1;
      if (a.skewMs !== 0) c.skewed += 1;
    }
    return c;
  }

  stats() {
    let delivered = 0;
    let droppedHeartbeats = 0;
    let pending = 0;
    for (const a of this.agents) {
      const s = a.publisher.stats();
      delivered += s.delivered;
      droppedHeartbeats += s.droppedHeartbeats;
      pending += s.pending;
    }
    return { delivered, droppedHeartbeats, pending, stateChanges: this.stateChanges, refused: this.stateRefused };
  }

  /**
   * Ends the simulation. `deregister` sends every live agent's `stopping` heartbeat (a clean fleet
   * shutdown); without it the agents simply go quiet, as if the hosts lost power.
   */
  async close(deregister: boolean): Promise<void> {
    clearInterval(this.stateTimer);
    await this.supervisor?.stop().catch(() => undefined);
    const live = this.agents.filter((a) => a.mode !== 'stopped');
    for (const a of live) this.silence(a, a.mode);
    const beating = live.filter((a) => a.mode !== 'killed');
    if (deregister) await this.stop(beating);
    await Promise.all(
      this.agents
        .filter((a) => a.mode !== 'stopped')
        .map((a) => a.publisher.close(0, { deregister: false }).catch(() => undefined)),
    );
    await Promise.all(this.connections.map((c) => c.close()));
  }

  private open(id: string, index: number): AgentPublisher {
    const agent = (): SimAgent | undefined => this.agents[index];
    return AgentPublisher.open({
      agentId: id,
      dataDir: path.join(this.dataDir, id),
      connection: this.connections[Math.floor(index / this.options.agentsPerConnection)]!,
      host: `sim-host-${Math.floor(index / (this.options.agentsPerHost ?? 10))}`,
      heartbeat: {
        intervalMs: this.options.intervalMs,
        missThreshold: this.options.missThreshold,
        startPeriodMs: this.options.startPeriodMs,
        agentVersion: '1.0.0-sim',
        priorityTier: index % 3,
        dependencies: ['db'],
        labels: { fleet: this.options.prefix },
      },
      now: () => Date.now() + (agent()?.skewMs ?? 0),
      logger: this.options.logger,
    });
  }

  /**
   * One supervisor for the whole simulated fleet (one consumer group, not one per simulated host:
   * a thousand groups would load the broker more than the agents do); it answers for every agent.
   */
  private async startSupervisor(): Promise<void> {
    const { heal, backups } = this.options;
    this.supervisor = new AgentSupervisor({
      connection: this.connections[0]!,
      hostId: `fleet-sim-${this.options.prefix}`,
      logger: this.options.logger,
    });
    const runner =
      backups &&
      new BackupRunner({
        connection: this.connections[0]!,
        store: new FileSystemStore(backups.storeDir),
        allow: backups.allow,
        concurrency: 2,
        logger: this.options.logger,
      });
    for (const a of this.agents)
      this.supervisor.register(a.id, {
        ...(heal ? { heal: (c: HealCommand) => this.simulateHeal(a, c, heal) } : {}),
        // A dead agent's host takes no backup of it: the orchestrator times the job out.
        ...(runner ? { backup: (c: BackupCommand) => (a.mode === 'killed' ? undefined : runner.handler(c)) } : {}),
      });
    await this.supervisor.start();
  }

  private async simulateHeal(
    a: SimAgent,
    c: HealCommand,
    heal: { success: number; latencyMs: number },
  ): Promise<HealOutcome> {
    await new Promise((r) => setTimeout(r, heal.latencyMs));
    const success = Math.random() < heal.success;
    this.emit({ event: 'heal', at: Date.now(), agents: [a.id], action: c.action, attempt: c.attempt, success });
    if (!success) return { success: false, error: `simulated ${c.action} failed` };
    if (a.mode === 'killed' || a.mode === 'frozen' || a.mode === 'flapping') this.revive([a]);
    a.failedCheck = undefined;
    return { success: true };
  }

  private beat(a: SimAgent, mode: AgentMode = 'beating'): void {
    if (a.mode !== mode) return;
    a.publisher.startHeartbeats((): HeartbeatReport => {
      a.lastBeatAt = Date.now();
      const checks: HealthCheck[] = [{ name: 'db', ok: !a.failedCheck, detail: a.failedCheck ?? null }];
      return {
        status: a.failedCheck ? 'degraded' : 'ok',
        checks,
        metrics: { cpu: Math.random() * 100, rssMb: 50 + (a.index % 50) },
      };
    });
  }

  private silence(a: SimAgent, mode: AgentMode): void {
    a.publisher.stopHeartbeats();
    for (const t of a.timers) clearTimeout(t);
    a.timers = [];
    a.mode = mode;
  }

  private publishStateChanges(n: number): void {
    const beating = this.agents.filter((a) => a.mode === 'beating');
    for (let i = 0; i < n && beating.length > 0; i++) {
      const a = beating[Math.floor(Math.random() * beating.length)]!;
      const entity = { id: `${a.id}/svc-${Math.floor(Math.random() * 3)}`, type: 'service' };
      void a.publisher
        .publishStateChange(entity, 'updated', { status: 'running', pid: 1000 + Math.floor(Math.random() * 9000) })
        .then((r) => (r.accepted ? (this.stateChanges += 1) : (this.stateRefused += 1)));
    }
  }

  private emitFor(event: string, agents: SimAgent[], extra: Record<string, unknown> = {}): void {
    this.emit({
      event,
      at: Date.now(),
      agents: agents.map((a) => a.id),
      lastBeats: Object.fromEntries(agents.map((a) => [a.id, a.lastBeatAt ?? null])),
      ...extra,
    });
  }
}

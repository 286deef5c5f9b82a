// How the soak injects each kind of fault, and what it counts as the fault's recovery: from the
// fault until what it broke answers again. Every fault is logged as it fires, before its effect, so
// a run that stalls shows what it was doing.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis, Cluster } from 'ioredis';
import { runScriptAsync, waitHttpOk, waitUntil, type RunningFleet } from '@vigil/test-kit';
import type { AgentDisks } from './agent-disks';
import type { Fault, FaultKind } from './fault-schedule';
import type { InstancePool } from './instances';

export interface InjectContext {
  pool: InstancePool;
  random: () => number;
  fleet: () => RunningFleet;
  redis: Redis | Cluster;
  /** How long a paused instance stays stopped: past its consumer session (10 s). */
  pauseMs: number;
  /** The agents' small disks, where the soak fills some. */
  disks?: AgentDisks;
  /** The agents the kill-agent faults take, in order (drawn from the seed). */
  agentsToKill: string[];
  /** How long an agent's disk stays full (its heartbeats must go on meanwhile). */
  diskFullMs: number;
  log: (line: string) => void;
}

export class FaultLedger {
  readonly counts: Partial<Record<FaultKind, number>> = {};
  readonly recovery = new Map<FaultKind, number[]>();
  /** Agents killed for good, with when. */
  readonly killedAgents = new Map<string, number>();
  /** Per probe entity of an agent whose disk filled, the versions its agent accepted once freed. */
  readonly acceptedAfterFullDisk = new Map<string, number[]>();

  recovered(kind: FaultKind, ms: number): void {
    const times = this.recovery.get(kind) ?? [];
    times.push(ms);
    this.recovery.set(kind, times);
  }
}

/**
 * Fires each fault at its time from `startedAt` and resolves once every one has run its course; a
 * fault that fails is a violation, not the end of the run. Each recovers on its own (a restart
 * takes ~10 s, longer than the gap between two kills of a long run), so several may be under way at
 * once; broker and Redis faults run one after another, as the cluster's quorum and replicas require.
 */
export async function runSchedule(
  schedule: readonly Fault[],
  startedAt: number,
  ctx: InjectContext,
  ledger: FaultLedger,
  violations: string[],
): Promise<void> {
  const underWay: Array<Promise<void>> = [];
  const track = (fault: Fault, p: Promise<void>) =>
    p.catch((e: Error) => void violations.push(`the ${fault.kind} fault at ${fault.at} ms failed: ${e.message}`));
  const infra = serially();
  // One at a time too: a kill reads the fleet's next "killed" answer, and two kills at once would
  // both read the first one.
  const agents = serially();
  // The same for the fleet's answers to "publish".
  const diskFaults = serially();
  for (const fault of schedule) {
    const wait = startedAt + fault.at - Date.now();
    if (wait > 0) await sleep(wait);
    const run = () => track(fault, inject(fault, ctx, ledger));
    if (fault.kind === 'kill-broker' || fault.kind === 'kill-redis-master') underWay.push(infra(run));
    else if (fault.kind === 'kill-agent') underWay.push(agents(run));
    else if (fault.kind === 'fill-agent-disk') underWay.push(diskFaults(run));
    else underWay.push(run());
  }
  await Promise.all(underWay);
}

/** A queue of tasks run one after another; each call resolves when its task has run (failures are the task's to report). */
function serially(): (task: () => Promise<void>) => Promise<void> {
  let last = Promise.resolve();
  return (task) => (last = last.then(task));
}

export async function inject(fault: Fault, ctx: InjectContext, ledger: FaultLedger): Promise<void> {
  const { pool, random, log } = ctx;
  // Counted as it fires, not as it is scheduled: a fault that could not fire is a violation instead.
  const fired = () => (ledger.counts[fault.kind] = (ledger.counts[fault.kind] ?? 0) + 1);
  let began = Date.now();
  switch (fault.kind) {
    case 'kill-service': {
      const victim = await pool.pick(random);
      victim.dying = true;
      log(`  fault: SIGKILL ${victim.role} on :${victim.port}`);
      began = Date.now();
      victim.proc.child.kill('SIGKILL');
      fired();
      await victim.proc.exited;
      pool.remove(victim);
      await pool.start(victim.role);
      ledger.recovered(fault.kind, Date.now() - began);
      break;
    }
    case 'pause-service': {
      const victim = await pool.pick(random);
      log(`  fault: SIGSTOP ${victim.role} on :${victim.port} for ${ctx.pauseMs} ms`);
      victim.proc.child.kill('SIGSTOP');
      fired();
      await sleep(ctx.pauseMs);
      // A kill may have found it stopped: then that fault's restart is its recovery.
      if (victim.proc.child.exitCode !== null || victim.proc.child.signalCode !== null) break;
      victim.proc.child.kill('SIGCONT');
      const resumed = Date.now();
      await waitHttpOk(victim.port, '/health/ready', 120_000, `${victim.role} ready after a pause`);
      ledger.recovered(fault.kind, Date.now() - resumed);
      break;
    }
    case 'kill-agent': {
      const victim = ctx.agentsToKill.shift();
      if (!victim) throw new Error('more agent kills than agents drawn to kill');
      log(`  fault: kill agent ${victim}`);
      ctx.fleet().send(`kill ${victim}`);
      fired();
      const e = await ctx.fleet().waitFor('killed', 10_000);
      if (!e.agents?.includes(victim)) throw new Error(`fleet-sim killed ${JSON.stringify(e.agents)}, not ${victim}`);
      for (const a of e.agents ?? []) ledger.killedAgents.set(a, Date.now());
      log(`  fault: agent ${(e.agents ?? []).join(',')} killed`);
      break;
    }
    case 'fill-agent-disk': {
      if (!ctx.disks) throw new Error('no agent disks were mounted');
      const agentId = ctx.disks.take();
      log(`  fault: fill the disk of agent ${agentId}`);
      ctx.disks.fill(agentId);
      fired();
      const full = await publishNow(ctx, agentId);
      if (full.accepted.length > 0 || !full.refused.every((r) => r.includes('ENOSPC')))
        throw new Error(`agent ${agentId} on a full disk did not refuse with ENOSPC: ${JSON.stringify(full)}`);
      await sleep(ctx.diskFullMs);
      ctx.disks.free(agentId);
      const freed = Date.now();
      const after = await publishNow(ctx, agentId);
      if (after.accepted.length !== PROBES)
        throw new Error(`agent ${agentId} refused changes once its disk was freed: ${JSON.stringify(after)}`);
      ledger.recovered(fault.kind, Date.now() - freed);
      ledger.acceptedAfterFullDisk.set(
        `${agentId}/probe`,
        after.accepted.map((a) => a.version),
      );
      log(`  fault: agent ${agentId}'s disk freed; it accepts changes again`);
      break;
    }
    case 'kill-broker': {
      const node = 1 + Math.floor(random() * 3);
      log(`  fault: SIGKILL kafka node ${node}`);
      check(await runScriptAsync('infra/kafka-cluster.sh', ['kill', String(node)], process.env), 'kill a broker');
      fired();
      await sleep(3000 + random() * 7000);
      check(await runScriptAsync('infra/kafka-cluster.sh', ['start', String(node)], process.env), 'restart a broker');
      log(`  fault: kafka node ${node} back`);
      ledger.recovered(fault.kind, Date.now() - began);
      break;
    }
    case 'kill-redis-master': {
      const slots = async () =>
        ((await ctx.redis.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>).map(
          ([, , [, port]]) => Number(port),
        );
      const masters = await slots();
      const port = masters[Math.floor(random() * masters.length)]!;
      log(`  fault: SIGKILL redis master :${port}`);
      check(await runScriptAsync('infra/redis-cluster.sh', ['kill', String(port)], process.env), 'kill a Redis master');
      fired();
      await waitUntil(async () => !(await slots()).includes(port), 60_000, `a replica to take over from :${port}`);
      ledger.recovered(fault.kind, Date.now() - began);
      check(
        await runScriptAsync('infra/redis-cluster.sh', ['start', String(port)], process.env),
        'restart a Redis node',
      );
      log(`  fault: redis :${port} replaced by its replica and back as one`);
      break;
    }
  }
}

const PROBES = 2;

interface Published {
  accepted: Array<{ eventId: string; version: number }>;
  refused: string[];
}

/** The agent publishes PROBES changes of its probe entity now; what it accepted and refused. */
async function publishNow(ctx: InjectContext, agentId: string): Promise<Published> {
  ctx.fleet().send(`publish ${agentId} ${PROBES}`);
  const e = await ctx.fleet().waitFor('published', 30_000);
  const mine = (e.results as Record<string, Published> | undefined)?.[agentId];
  if (!mine) throw new Error(`the fleet published nothing for ${agentId}: ${JSON.stringify(e)}`);
  return mine;
}

function check(r: { code: number | null; stderr: string }, what: string): void {
  if (r.code !== 0) throw new Error(`${what} failed: ${r.stderr.slice(-500)}`);
}

// The chaos soak: two instances each of state-sync and heartbeat, a simulated fleet and a stream of
// state changes with duplicates, reorders and deletes, while faults drawn from a seed kill and pause
// service instances, kill agents and, on the cluster infra, kill brokers and Redis masters. At the
// end it checks the invariants against what it sent and reports figures.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Topics, type AgentLivenessChanged, type StateChangeEvent } from '@vigil/events';
import { highWatermarks } from '@vigil/kafka';
import { parseRedisTarget } from '@vigil/platform';
import {
  committedOffsets,
  percentile,
  runScript,
  seededRandom,
  startFleet,
  startHeartbeat,
  stopProcess,
  waitHttpOk,
  waitUntil,
  watchLiveness,
  type ServiceProcess,
} from '@vigil/test-kit';
import {
  changelogOf,
  connect,
  entityStateKey,
  expectedAccepted,
  startStateSync,
  waitCaughtUp,
} from '../state-sync-harness';
import { faultSchedule, type Fault, type FaultKind } from './fault-schedule';

export interface SoakOptions {
  seed: number;
  seconds: number;
  /** State changes per second offered. */
  rate: number;
  entities: number;
  agents: number;
  intervalMs: number;
  faults: Partial<Record<FaultKind, number>>;
  /** How long a paused instance stays stopped: past its consumer session (10 s). */
  pauseMs?: number;
  log?: (line: string) => void;
}

export interface SoakReport {
  seed: number;
  infra: { kafkaBrokers: number; redisCluster: boolean };
  seconds: number;
  events: {
    sent: number;
    entities: number;
    accepted: number;
    refused: number;
    deletes: number;
    changelogDuplicates: number;
    missingVersions: number;
    redisWrong: number;
  };
  faults: Record<string, number>;
  recoverySeconds: Record<string, { p50: number; p99: number; max: number; n: number }>;
  heartbeat: {
    agents: number;
    killedAgents: number;
    falseDetections: number;
    killedDeclaredOnce: number;
    killedMissed: string[];
    killedTwice: string[];
  };
  readyAtEnd: boolean;
  violations: string[];
}

interface Instance {
  role: 'state-sync' | 'heartbeat';
  proc: ServiceProcess;
  port: number;
  /** Picked by a kill: no other fault picks it meanwhile. */
  dying?: boolean;
}

/** Where a fault's recovery is measured: from the fault until what it broke answers again. */
const recovery = new Map<string, number[]>();
const recovered = (kind: string, ms: number) => {
  const times = recovery.get(kind) ?? [];
  times.push(ms);
  recovery.set(kind, times);
};

export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const log = o.log ?? ((l: string) => console.log(l));
  recovery.clear();
  const random = seededRandom(o.seed ^ 0x5eed);
  const run = `soak-${o.seed}-${randomUUID().slice(0, 6)}`;
  const brokers = (process.env.KAFKA_BROKERS ?? '').split(',').filter(Boolean).length;
  const redisCluster = parseRedisTarget(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379').cluster;
  for (const [kind, ok] of [
    ['kill-broker', brokers >= 3],
    ['kill-redis-master', redisCluster],
  ] as const)
    if ((o.faults[kind] ?? 0) > 0 && !ok)
      throw new Error(`${kind} needs the cluster infra: VIGIL_INFRA=cluster bash infra/up.sh`);
  const schedule = faultSchedule({ seed: o.seed, durationMs: o.seconds * 1000, counts: o.faults });
  log(
    `soak ${run}: seed ${o.seed} (--seed ${o.seed} reruns it), ${o.seconds} s, ${o.rate} changes/s over ${o.entities} entities, ${o.agents} agents at ${o.intervalMs} ms, ${schedule.length} faults`,
  );

  const { kafka, codec, producer, redis, close } = connect();
  await producer.connect();
  const hbGroup = `${run}-heartbeat`;
  const instances: Instance[] = [];
  const start = async (role: Instance['role']): Promise<Instance> => {
    const began = Date.now();
    const s =
      role === 'state-sync'
        ? await startStateSync({ LOG_LEVEL: 'warn' })
        : await startHeartbeat(hbGroup, { LOG_LEVEL: 'warn' });
    if (role === 'heartbeat') await waitHttpOk(s.port, '/health/ready', 60_000, 'heartbeat readiness');
    const inst = { role, proc: s, port: s.port };
    instances.push(inst);
    log(`  ${role} started on :${s.port} in ${Date.now() - began} ms`);
    return inst;
  };
  const fleetPrefix = `${run}-agent`;
  const watch = await watchLiveness(kafka, codec, fleetPrefix);
  const killedAgents = new Map<string, number>();
  const counts: Record<string, number> = {};
  const violations: string[] = [];
  const sent: StateChangeEvent[] = [];
  let deletes = 0;
  let fleet: ReturnType<typeof startFleet> | undefined;

  try {
    for (const role of ['state-sync', 'state-sync', 'heartbeat', 'heartbeat'] as const) await start(role);
    fleet = startFleet({ agents: o.agents, prefix: fleetPrefix, intervalMs: o.intervalMs });
    await waitUntil(
      () => new Set(watch.to('healthy').map((t) => t.agentId)).size >= o.agents,
      120_000,
      `${o.agents} agents healthy`,
    );
    log(`  ${o.agents} agents healthy; load and faults start`);

    // The state-change stream: versions per entity in order, with duplicates, reorders and deletes.
    const versions = new Map<string, number>();
    const lastType = new Map<string, StateChangeEvent['eventType']>();
    const held = new Map<string, StateChangeEvent>();
    const entity = (i: number) => `${run}-e${i}`;
    const next = (): StateChangeEvent[] => {
      const id = entity(Math.floor(random() * o.entities));
      const version = (versions.get(id) ?? 0) + 1;
      versions.set(id, version);
      const deleted = version > 1 && random() < 0.03;
      if (deleted) deletes++;
      const recreated = version === 1 || lastType.get(id) === 'deleted';
      const e: StateChangeEvent = {
        eventId: randomUUID(),
        entityId: id,
        entityType: 'service',
        agentId: `${run}-owner-${Math.floor(random() * 20)}`,
        eventType: deleted ? 'deleted' : recreated ? 'created' : 'updated',
        version,
        timestamp: Date.now(),
        payload: deleted ? null : JSON.stringify({ version }),
        checksum: null,
      };
      lastType.set(id, e.eventType);
      const out: StateChangeEvent[] = [];
      // A reorder: this version waits and goes out after the entity's next one.
      const waiting = held.get(id);
      if (waiting) {
        held.delete(id);
        out.push(e, waiting);
      } else if (random() < 0.05) {
        held.set(id, e);
      } else out.push(e);
      // A duplicate: the same event (same id) again, as a retrying agent sends it.
      if (out.length > 0 && random() < 0.1) out.push(out[0]!);
      return out;
    };

    const startedAt = Date.now();
    const endAt = startedAt + o.seconds * 1000;
    let stopLoad = false;
    const load = (async () => {
      const perTick = Math.max(1, Math.round(o.rate / 10));
      for (let tick = 0; !stopLoad && Date.now() < endAt; tick++) {
        const batch: StateChangeEvent[] = [];
        while (batch.length < perTick) batch.push(...next());
        // Sent in order: the order the version gate judges is the order on the partition.
        await producer.send(
          Topics.stateChanges,
          batch.map((value) => ({ value })),
        );
        sent.push(...batch);
        const due = startedAt + (tick + 1) * 100;
        if (due > Date.now()) await sleep(due - Date.now());
      }
      for (const e of held.values()) sent.push(e);
      if (held.size > 0)
        await producer.send(
          Topics.stateChanges,
          [...held.values()].map((value) => ({ value })),
        );
    })();

    const progress = setInterval(() => {
      log(
        `  ${Math.round((Date.now() - startedAt) / 1000)} s: ${sent.length} changes sent, faults ${JSON.stringify(counts)}`,
      );
    }, 15_000);
    try {
      // Faults fire on schedule, each recovering on its own (a restart takes ~10 s, longer than the
      // gap between two kills of a long run), so several may be under way at once; broker and Redis
      // faults run one after another, as the cluster's quorum and replicas require.
      const underWay: Array<Promise<void>> = [];
      let infraChain = Promise.resolve();
      const track = (fault: Fault, p: Promise<void>) =>
        p.catch((e: Error) => void violations.push(`the ${fault.kind} fault at ${fault.at} ms failed: ${e.message}`));
      for (const fault of schedule) {
        const wait = startedAt + fault.at - Date.now();
        if (wait > 0) await sleep(wait);
        if (fault.kind === 'kill-broker' || fault.kind === 'kill-redis-master')
          underWay.push(
            (infraChain = track(
              fault,
              infraChain.then(() => inject(fault)),
            )),
          );
        else underWay.push(track(fault, inject(fault)));
      }
      await load;
      await Promise.all(underWay);
    } finally {
      stopLoad = true;
      clearInterval(progress);
      await load.catch(() => undefined);
    }
    log(`  load done: ${sent.length} changes in ${Math.round((Date.now() - startedAt) / 1000)} s; draining`);

    // Everything consumed: state-sync's group committed to the end, heartbeat's too.
    await waitCaughtUp(kafka, 300_000);
    const hbEnds = await highWatermarks(kafka, Topics.heartbeats.name);
    await waitUntil(
      async () => {
        const c = await committedOffsets(kafka, hbGroup, Topics.heartbeats.name);
        // Agents keep beating: within a few intervals of the end is drained.
        return [...hbEnds].every(([p, end]) => (c.get(p) ?? 0n) >= end);
      },
      300_000,
      'heartbeat to consume the heartbeats sent before the end',
    );
    // The last killed agents' detection: three intervals and the grace after the kill.
    await sleep(o.intervalMs * 4 + 3000);
  } finally {
    await fleet?.quit().catch(() => undefined);
  }

  // Invariants.
  const expected = expectedAccepted(sent);
  const logOf = await changelogOf(kafka, new Set(expected.keys()));
  let changelogDuplicates = 0;
  let missingVersions = 0;
  let redisWrong = 0;
  for (const [entityId, versions] of expected) {
    const inLog = (logOf.get(entityId) ?? []).map((r) => r.version);
    const seen = new Set<number>();
    for (const v of inLog)
      if (seen.has(v)) changelogDuplicates++;
      else seen.add(v);
    missingVersions += versions.filter((v) => !seen.has(v)).length;
    if (inLog.join() !== versions.join() && violations.length < 20)
      violations.push(`${entityId}: changelog ${inLog.join(',')} != accepted ${versions.join(',')}`);
    const stored = Number(await redis.hget(entityStateKey(entityId), 'version'));
    if (stored !== versions.at(-1)) {
      redisWrong++;
      if (violations.length < 20)
        violations.push(`${entityId}: Redis holds ${stored}, newest accepted ${versions.at(-1)}`);
    }
  }
  const accepted = [...expected.values()].reduce((n, v) => n + v.length, 0);

  const unreachable = (t: AgentLivenessChanged) => t.to === 'unreachable';
  let falseDetections = 0;
  const killedMissed: string[] = [];
  const killedTwice: string[] = [];
  for (let i = 0; i < o.agents; i++) {
    const agentId = `${fleetPrefix}-${i}`;
    const declared = watch.seen.filter((t) => t.agentId === agentId && unreachable(t));
    const killedAt = killedAgents.get(agentId);
    if (killedAt === undefined) {
      falseDetections += declared.length;
      if (declared.length > 0) violations.push(`${agentId} was alive and declared unreachable ${declared.length}x`);
    } else if (declared.length === 0) killedMissed.push(agentId);
    else if (declared.length > 1) killedTwice.push(agentId);
  }
  for (const a of killedMissed) violations.push(`${a} was killed and never declared unreachable`);
  for (const a of killedTwice) violations.push(`${a} was declared unreachable more than once`);
  if (changelogDuplicates > 0) violations.push(`${changelogDuplicates} changelog duplicates`);
  if (missingVersions > 0) violations.push(`${missingVersions} accepted versions missing from the changelog`);

  let readyAtEnd = true;
  for (const inst of instances.filter((i) => i.proc.child.exitCode === null && i.proc.child.signalCode === null)) {
    const res = await fetch(`http://127.0.0.1:${inst.port}/health/ready`).catch(() => undefined);
    if (res?.status !== 200) {
      readyAtEnd = false;
      violations.push(`${inst.role} on :${inst.port} is not ready at the end (${res?.status ?? 'no answer'})`);
    }
  }
  await watch.stop();
  for (const inst of instances) await stopProcess(inst.proc.child);
  await close();
  redis.disconnect();

  const stats = (ms: number[]) => ({
    p50: Math.round(percentile(ms, 50)) / 1000,
    p99: Math.round(percentile(ms, 99)) / 1000,
    max: Math.round(Math.max(...ms)) / 1000,
    n: ms.length,
  });
  return {
    seed: o.seed,
    infra: { kafkaBrokers: brokers, redisCluster },
    seconds: o.seconds,
    events: {
      sent: sent.length,
      entities: expected.size,
      accepted,
      refused: sent.length - accepted,
      deletes,
      changelogDuplicates,
      missingVersions,
      redisWrong,
    },
    faults: counts,
    recoverySeconds: Object.fromEntries([...recovery].map(([k, ms]) => [k, stats(ms)])),
    heartbeat: {
      agents: o.agents,
      killedAgents: killedAgents.size,
      falseDetections,
      killedDeclaredOnce: killedAgents.size - killedMissed.length - killedTwice.length,
      killedMissed,
      killedTwice,
    },
    readyAtEnd,
    violations,
  };

  async function inject(fault: Fault): Promise<void> {
    counts[fault.kind] = (counts[fault.kind] ?? 0) + 1;
    const began = Date.now();
    switch (fault.kind) {
      case 'kill-service': {
        const live = instances.filter((i) => !i.dying);
        const victim = live[Math.floor(random() * live.length)]!;
        victim.dying = true;
        victim.proc.child.kill('SIGKILL');
        await victim.proc.exited;
        instances.splice(instances.indexOf(victim), 1);
        log(`  fault: SIGKILL ${victim.role} on :${victim.port}`);
        await start(victim.role);
        recovered(fault.kind, Date.now() - began);
        break;
      }
      case 'pause-service': {
        const live = instances.filter((i) => !i.dying);
        const victim = live[Math.floor(random() * live.length)]!;
        log(`  fault: SIGSTOP ${victim.role} on :${victim.port} for ${o.pauseMs ?? 15_000} ms`);
        victim.proc.child.kill('SIGSTOP');
        await sleep(o.pauseMs ?? 15_000);
        // A kill may have found it stopped: then that fault's restart is its recovery.
        if (victim.proc.child.exitCode !== null || victim.proc.child.signalCode !== null) break;
        victim.proc.child.kill('SIGCONT');
        const resumed = Date.now();
        await waitHttpOk(victim.port, '/health/ready', 120_000, `${victim.role} ready after a pause`);
        recovered(fault.kind, Date.now() - resumed);
        break;
      }
      case 'kill-agent': {
        fleet!.send('kill 1');
        const e = await fleet!.waitFor('killed', 10_000);
        for (const a of e.agents ?? []) killedAgents.set(a, Date.now());
        log(`  fault: agent ${(e.agents ?? []).join(',')} killed`);
        break;
      }
      case 'kill-broker': {
        const node = 1 + Math.floor(random() * 3);
        log(`  fault: SIGKILL kafka node ${node}`);
        check(runScript('infra/kafka-cluster.sh', ['kill', String(node)], process.env), 'kill a broker');
        await sleep(3000 + random() * 7000);
        check(runScript('infra/kafka-cluster.sh', ['start', String(node)], process.env), 'restart a broker');
        recovered(fault.kind, Date.now() - began);
        break;
      }
      case 'kill-redis-master': {
        const masters = ((await redis.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>).map(
          ([, , [, port]]) => Number(port),
        );
        const port = masters[Math.floor(random() * masters.length)]!;
        log(`  fault: SIGKILL redis master :${port}`);
        check(runScript('infra/redis-cluster.sh', ['kill', String(port)], process.env), 'kill a Redis master');
        await waitUntil(
          async () => {
            const now = (await redis.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number]]>;
            return !now.some(([, , [, p]]) => Number(p) === port);
          },
          60_000,
          `a replica to take over from :${port}`,
        );
        recovered(fault.kind, Date.now() - began);
        check(runScript('infra/redis-cluster.sh', ['start', String(port)], process.env), 'restart a Redis node');
        break;
      }
    }
  }
}

function check(r: { code: number | null; stderr: string }, what: string): void {
  if (r.code !== 0) throw new Error(`${what} failed: ${r.stderr.slice(-500)}`);
}

/** The report as a few readable lines. */
export function summarize(r: SoakReport): string {
  const rec = Object.entries(r.recoverySeconds)
    .map(([k, s]) => `${k} p50 ${s.p50} s p99 ${s.p99} s max ${s.max} s (${s.n})`)
    .join('; ');
  return [
    `soak seed ${r.seed} on ${r.infra.kafkaBrokers} broker(s), ${r.infra.redisCluster ? 'a Redis Cluster' : 'one Redis'}, ${r.seconds} s`,
    `state changes: ${r.events.sent} sent over ${r.events.entities} entities, ${r.events.accepted} accepted, ${r.events.refused} refused (duplicates and stale), ${r.events.deletes} deletes`,
    `changelog duplicates ${r.events.changelogDuplicates}, missing versions ${r.events.missingVersions}, Redis not at the newest version ${r.events.redisWrong}`,
    `faults: ${JSON.stringify(r.faults)}; recovery: ${rec || 'none measured'}`,
    `heartbeat: ${r.heartbeat.agents} agents, ${r.heartbeat.killedAgents} killed, ${r.heartbeat.killedDeclaredOnce} declared unreachable exactly once, false detections ${r.heartbeat.falseDetections}`,
    `every instance ready at the end: ${r.readyAtEnd}`,
    r.violations.length === 0 ? 'no violations' : `VIOLATIONS:\n  ${r.violations.join('\n  ')}`,
  ].join('\n');
}

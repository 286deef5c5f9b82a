// The chaos soak: two instances each of the four services, a simulated fleet and a stream of
// state changes with duplicates, reorders and deletes, while faults drawn from a seed kill and pause
// service instances, kill agents and, on the cluster infra, kill brokers and Redis masters. At the
// end it checks the invariants against what it sent and reports figures.
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Topics, type StateChangeEvent } from '@vigil/events';
import { ensureTopics, silentLogger, withRetries } from '@vigil/kafka';
import { parseRedisTarget } from '@vigil/platform';
import { percentile, seededRandom, shuffle, startFleet, waitUntil, watchLiveness } from '@vigil/test-kit';
import { connect, inputLag, waitCaughtUp } from '../state-sync-harness';
import { ChangeStream } from './change-stream';
import { faultSchedule, type FaultKind } from './fault-schedule';
import { ActingServices } from './acting-services';
import { AgentDisks } from './agent-disks';
import { topicEnds, waitGroupsDrained } from './group-drain';
import { FaultLedger, runSchedule, type InjectContext } from './inject';
import { InstancePool } from './instances';
import { auditChanges, auditDetections } from './invariants';
import { summarize, type SoakReport } from './report';

export { summarize, type SoakReport };

export interface SoakOptions {
  seed: number;
  seconds: number;
  /** State changes per second offered. */
  rate: number;
  entities: number;
  agents: number;
  intervalMs: number;
  faults: Partial<Record<FaultKind, number>>;
  /** How long the consumers get to drain after the load before the soak gives up (default 300 s). */
  drainTimeoutMs?: number;
  /** How long a paused instance stays stopped: past its consumer session (10 s). */
  pauseMs?: number;
  /** How long a filled agent disk stays full (default 10 s). */
  diskFullMs?: number;
  /** Where each service instance's output is written (default: a new directory under the OS's tmp). */
  logDir?: string;
  log?: (line: string) => void;
}

export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const log = o.log ?? ((l: string) => console.log(l));
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
  // The whole catalogue, before anything watches it: on a broker that starts from nothing the
  // services would create their topics only as they start.
  await ensureTopics(kafka, undefined, silentLogger);
  const hbGroup = `${run}-heartbeat`;
  const logDir = o.logDir ?? mkdtempSync(path.join(os.tmpdir(), `${run}-`));
  mkdirSync(logDir, { recursive: true });
  log(`  service logs in ${logDir}`);
  const ledger = new FaultLedger();
  const fleetPrefix = `${run}-agent`;
  const agentIdAt = (i: number) => fleetAgentId(fleetPrefix, o.agents, i);
  const watch = await watchLiveness(kafka, codec, fleetPrefix);
  const actingDir = mkdtempSync(path.join(os.tmpdir(), `${run}-acting-`));
  const acting = await ActingServices.watch({
    kafka,
    codec,
    fleetPrefix,
    agentIdAt,
    agents: o.agents,
    workDir: actingDir,
  });
  // Every consumer group the soak runs, with the topics it consumes: each must end with nothing owed.
  const drainGroups = { [hbGroup]: [Topics.heartbeats.name], ...acting.groups };
  const pool = new InstancePool({ logDir, env: { heartbeat: { CONSUMER_GROUP: hbGroup }, ...acting.env }, log });
  const violations: string[] = [];
  const sent: StateChangeEvent[] = [];
  let stream: ChangeStream | undefined;
  /** The fleet's agents, as they announced themselves healthy. */
  const fleetIds: string[] = [];
  let fleet: ReturnType<typeof startFleet> | undefined;
  let drainSeconds: number | undefined;
  let groupsDrainSeconds: number | undefined;
  let actions: SoakReport['actions'];
  let disks: AgentDisks | undefined;
  const agentsToKill: string[] = [];
  const fleetDataDir = mkdtempSync(path.join(os.tmpdir(), `${run}-fleet-`));

  // Whatever happens, no service process outlives the soak: a failed drain ends the run, not hangs it.
  try {
    try {
      for (const role of ROLES) {
        await pool.start(role);
        await pool.start(role);
      }
      // Where the groups' topics stood before the fleet and the load: what comes after must be consumed.
      const starts = await topicEnds(kafka, Object.values(drainGroups).flat());
      const diskFills = o.faults['fill-agent-disk'] ?? 0;
      // The agents that faults hit, drawn from the seed on their own (a seed's other faults stay what
      // they were before agents were drawn): first the disks to fill, then the agents to kill, apart.
      const victims = pickAgents(agentIdAt, o.agents, seededRandom(o.seed ^ 0xd15c));
      if (diskFills > 0) disks = new AgentDisks(fleetDataDir, victims.slice(0, diskFills));
      agentsToKill.push(...victims.slice(diskFills, diskFills + (o.faults['kill-agent'] ?? 0)));
      fleet = startFleet({
        agents: o.agents,
        prefix: fleetPrefix,
        intervalMs: o.intervalMs,
        args: ['--data-dir', fleetDataDir, ...acting.fleetArgs],
      });
      await waitUntil(
        () => new Set(watch.to('healthy').map((t) => t.agentId)).size >= o.agents,
        120_000,
        `${o.agents} agents healthy`,
      );
      fleetIds.push(...new Set(watch.to('healthy').map((t) => t.agentId)));
      log(`  ${o.agents} agents healthy; load and faults start`);

      stream = new ChangeStream(run, o.entities, random);
      const changes = stream;

      const startedAt = Date.now();
      const endAt = startedAt + o.seconds * 1000;
      let stopLoad = false;
      const load = (async () => {
        for (let tick = 0; !stopLoad && Date.now() < endAt; tick++) {
          // What is due by now, not a tenth of the rate: a send slower than a tick (acks from three
          // replicas on a loaded machine) must not lower the rate offered, only batch it more.
          const due = Math.max(1, Math.round(((Date.now() - startedAt) * o.rate) / 1000) - sent.length);
          const batch: StateChangeEvent[] = [];
          while (batch.length < due) batch.push(...changes.next());
          // Sent in order: the order the version gate judges is the order on the partition. A broker
          // kill can outlast KafkaJS's own retries (a leader election on a loaded machine): sent
          // again, as an agent's SDK would, not given up (the producer is idempotent).
          await withRetries(
            'the soak load',
            () =>
              producer.send(
                Topics.stateChanges,
                batch.map((value) => ({ value })),
              ),
            { timeoutMs: 120_000, lostConnections: true },
          );
          sent.push(...batch);
          const nextTick = startedAt + (tick + 1) * 100;
          if (nextTick > Date.now()) await sleep(nextTick - Date.now());
        }
        const held = changes.drainHeld();
        sent.push(...held);
        if (held.length > 0)
          await producer.send(
            Topics.stateChanges,
            held.map((value) => ({ value })),
          );
      })();
      // Awaited after the faults are scheduled; a failure meanwhile must not be an unhandled rejection.
      load.catch(() => undefined);

      const progress = setInterval(() => {
        log(
          `  ${Math.round((Date.now() - startedAt) / 1000)} s: ${sent.length} changes sent, faults ${JSON.stringify(ledger.counts)}`,
        );
      }, 15_000);
      try {
        const ctx: InjectContext = {
          pool,
          random,
          fleet: () => fleet!,
          redis,
          pauseMs: o.pauseMs ?? 15_000,
          disks,
          agentsToKill,
          diskFullMs: o.diskFullMs ?? 10_000,
          log,
        };
        await runSchedule(schedule, startedAt, ctx, ledger, violations);
        await load;
      } finally {
        stopLoad = true;
        clearInterval(progress);
        await load.catch(() => undefined);
      }
      const loadEndedAt = Date.now();
      log(`  load done: ${sent.length} changes in ${Math.round((loadEndedAt - startedAt) / 1000)} s; draining`);

      // Everything consumed: state-sync's group committed to the end, heartbeat's too. A drain that
      // runs out is a violation, not the end of the run: the audits still say what was lost or doubled.
      const drainMs = o.drainTimeoutMs ?? 300_000;
      const drainStarted = Date.now();
      const drainProgress = setInterval(() => {
        void inputLag(kafka).then(
          (lag) =>
            log(
              `  draining: state-sync ${lag} records behind after ${Math.round((Date.now() - drainStarted) / 1000)} s`,
            ),
          () => undefined,
        );
      }, 15_000);
      try {
        await waitCaughtUp(kafka, drainMs);
        drainSeconds = Math.round((Date.now() - drainStarted) / 1000);
      } catch (e) {
        violations.push(`state-sync did not drain: ${(e as Error).message.slice(0, 2000)}`);
      } finally {
        clearInterval(drainProgress);
      }
      // The last killed agents' detection: three intervals and the grace after the kill.
      await sleep(o.intervalMs * 4 + 3000);
      // With the fleet still up: its supervisor answers the heals and takes the backups. The first
      // slot is left to the orchestrator's registry to have caught up with the fleet's registrations.
      log('  waiting for the alerts and backups due');
      actions = await acting.audit(
        { agentIds: fleetIds, killed: new Set(ledger.killedAgents.keys()), from: startedAt + 10_000, to: loadEndedAt },
        violations,
      );
      // Every group ends with nothing owed: the acting services' outcomes were audited above, but a
      // group stuck behind a partition it no longer reads would owe records no audit looks at.
      const groups = await waitGroupsDrained(kafka, drainGroups, starts, drainMs);
      if ('behind' in groups)
        for (const [group, late] of Object.entries(groups.behind))
          violations.push(`consumer group ${group} did not drain: ${late.join(', ')}`);
      else groupsDrainSeconds = groups.seconds;
    } finally {
      await fleet?.quit().catch(() => undefined);
      disks?.unmountAll();
      rmSync(fleetDataDir, { recursive: true, force: true });
      rmSync(actingDir, { recursive: true, force: true });
    }

    // Invariants.
    const changes = await auditChanges(sent, { kafka, redis }, violations, ledger.acceptedAfterFullDisk);
    const heartbeat = auditDetections(
      watch.seen,
      { agentIds: fleetIds, killed: new Set(ledger.killedAgents.keys()) },
      violations,
    );

    const probeVersions = [...ledger.acceptedAfterFullDisk.values()].flat().length;
    let readyAtEnd = true;
    for (const inst of pool.live.filter((i) => i.proc.child.exitCode === null && i.proc.child.signalCode === null)) {
      const res = await fetch(`http://127.0.0.1:${inst.port}/health/ready`).catch(() => undefined);
      if (res?.status !== 200) {
        readyAtEnd = false;
        violations.push(`${inst.role} on :${inst.port} is not ready at the end (${res?.status ?? 'no answer'})`);
      }
    }
    return {
      seed: o.seed,
      infra: { kafkaBrokers: brokers, redisCluster },
      seconds: o.seconds,
      events: {
        sent: sent.length,
        entities: changes.entities,
        // The soak's own stream; the changes agents accepted after a full disk are audited with it.
        accepted: changes.accepted - probeVersions,
        refused: sent.length - (changes.accepted - probeVersions),
        deletes: stream?.deletes ?? 0,
        changelogDuplicates: changes.changelogDuplicates,
        missingVersions: changes.missingVersions,
        redisWrong: changes.redisWrong,
      },
      faults: ledger.counts,
      failedStarts: pool.failedStarts,
      recoverySeconds: Object.fromEntries([...ledger.recovery].map(([k, ms]) => [k, secondsOf(ms)])),
      heartbeat,
      actions,
      drainSeconds,
      groupsDrainSeconds,
      readyAtEnd,
      violations,
    };
  } finally {
    await watch.stop().catch(() => undefined);
    await acting.stop();
    await pool.stopAll();
    await close().catch(() => undefined);
    redis.disconnect();
  }
}

function secondsOf(ms: number[]) {
  return {
    p50: Math.round(percentile(ms, 50)) / 1000,
    p99: Math.round(percentile(ms, 99)) / 1000,
    max: Math.round(Math.max(...ms)) / 1000,
    n: ms.length,
  };
}

/** The service roles, two instances of each. */
const ROLES = ['state-sync', 'heartbeat', 'notifier', 'backup-orchestrator'] as const;

/** The id fleet-sim gives its `index`th agent: `<prefix>-<n>`, zero-padded to the widest index. */
function fleetAgentId(prefix: string, agents: number, index: number): string {
  return `${prefix}-${String(index).padStart(String(agents - 1).length, '0')}`;
}

/** The fleet's agent ids in an order drawn from `random`. */
function pickAgents(agentIdAt: (index: number) => string, agents: number, random: () => number): string[] {
  return shuffle(
    Array.from({ length: agents }, (_, i) => i),
    random,
  ).map(agentIdAt);
}

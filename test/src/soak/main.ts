#!/usr/bin/env node
// The chaos soak's command line: runs it, prints the summary, writes the report as JSON.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { repoRoot } from '@vigil/test-kit';
import { runSoak, summarize } from './soak';

const HELP = `Usage: bash test/soak/run.sh [options]   (or node test/dist/soak/main.js, with .vigil/infra.env loaded)

Runs two instances each of state-sync, heartbeat, notifier and backup-orchestrator, a simulated fleet
and a stream of state changes (10% duplicates, 5% reorders, 3% deletes with recreation), injects
faults drawn from the seed, then checks: per entity Redis holds the newest accepted version and the
changelog each accepted version once in order; no live agent declared unreachable, every killed
agent exactly once, healed twice (the fleet's heals fail by design) and alerted once; no alert fired
twice, none about a live agent; every 15 s backup slot verified once for each live agent of the
policy (the first simulated host's ten); every instance ready at the end. Exits 1 on any violation.

  --seconds N          load duration (default 1200)
  --rate N             state changes per second (default 1000)
  --entities N         entities the changes spread over (default 5000)
  --agents N           simulated agents (default 500)
  --interval-ms N      their heartbeat interval (default 5000)
  --kills N            SIGKILLs of random service instances, each restarted (default 100)
  --pauses N           SIGSTOPs of an instance past its session timeout (default 5)
  --agent-kills N      agents killed for good (default 5)
  --disk-fills N       agents whose disk (a 1 MiB tmpfs; needs root) fills for 10 s, then is freed:
                       changes refused with ENOSPC meanwhile, accepted and delivered after (default 5)
  --broker-kills N     broker SIGKILLs and restarts, cluster infra only (default 10 there, else 0)
  --redis-kills N      Redis master SIGKILLs, replica promoted, cluster infra only (default 10 there, else 0)
  --drain-timeout N    seconds the consumers get to catch up after the load (default 300)
  --seed N             the run's seed (default: random, printed)
  --out FILE           the JSON report (default bench/results/soak-<seed>.json)
  --log-dir DIR        each service instance's output, <role>-<n>.log (default bench/results/soak-<seed>-logs)
  -h, --help           this text`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '1200' },
      rate: { type: 'string', default: '1000' },
      entities: { type: 'string', default: '5000' },
      agents: { type: 'string', default: '500' },
      'interval-ms': { type: 'string', default: '5000' },
      kills: { type: 'string', default: '100' },
      pauses: { type: 'string', default: '5' },
      'agent-kills': { type: 'string', default: '5' },
      'disk-fills': { type: 'string', default: '5' },
      'broker-kills': { type: 'string' },
      'redis-kills': { type: 'string' },
      'drain-timeout': { type: 'string', default: '300' },
      seed: { type: 'string' },
      out: { type: 'string' },
      'log-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const int = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number >= 0, got "${v}"`);
    return n;
  };
  const cluster = (process.env.KAFKA_BROKERS ?? '').split(',').length >= 3;
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : int('seed', values.seed);
  const report = await runSoak({
    seed,
    seconds: int('seconds', values.seconds),
    rate: int('rate', values.rate),
    entities: int('entities', values.entities),
    agents: int('agents', values.agents),
    intervalMs: int('interval-ms', values['interval-ms']),
    drainTimeoutMs: int('drain-timeout', values['drain-timeout']) * 1000,
    logDir: values['log-dir'] ?? path.join(repoRoot, 'bench', 'results', `soak-${seed}-logs`),
    log: (line) => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`),
    faults: {
      'kill-service': int('kills', values.kills),
      'pause-service': int('pauses', values.pauses),
      'kill-agent': int('agent-kills', values['agent-kills']),
      'fill-agent-disk': int('disk-fills', values['disk-fills']),
      'kill-broker': int('broker-kills', values['broker-kills'] ?? (cluster ? '10' : '0')),
      'kill-redis-master': int('redis-kills', values['redis-kills'] ?? (cluster ? '10' : '0')),
    },
  });
  const out = values.out ?? path.join(repoRoot, 'bench', 'results', `soak-${seed}.json`);
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify({ ...report, finishedAt: new Date().toISOString() }, null, 2)}\n`);
  console.log(summarize(report));
  console.log(`report: ${out}`);
  if (report.violations.length > 0) process.exitCode = 1;
}

main().catch((e: Error) => {
  console.error(`soak failed: ${e.stack ?? e.message}`);
  process.exit(2);
});

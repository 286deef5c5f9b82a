#!/usr/bin/env node
// Simulates a fleet of agents on the real agent SDK, and breaks them on command.
import path from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { kafkaSecurityFromEnv, parseBrokers, registryAuthFromEnv } from '@vigil/kafka';
import { COMMANDS_HELP, runCommand } from './commands';
import { Fleet, type FleetEvent } from './fleet';

const HELP = `vigil-fleet-sim: N simulated agents publishing heartbeats (and state changes) through the agent SDK.

Usage: node tools/fleet-sim/dist/main.js [options]

  --agents N                agents (default 100)
  --prefix P                agent ids are P-000.. (default "sim")
  --interval-ms MS          heartbeat interval (default 1000)
  --miss-threshold K        intervals missed before unreachable (default 3)
  --start-period-ms MS      grace period after start (default 0)
  --state-change-rate R     state changes per second across the fleet (default 0)
  --agents-per-connection C agents sharing one Kafka connection (default 500)
  --agents-per-host H       agents per simulated host, their registration's host (default 10)
  --heal-success P          answer heal commands: a heal succeeds with probability P (0..1) and
                            restarts a killed agent; without it nobody answers heals
  --heal-latency-ms MS      how long a simulated heal takes (default 500)
  --backup-store DIR        answer backup commands (the SDK's BackupRunner) into this directory
                            store: the backup-orchestrator's BACKUP_STORE_DIR
  --backup-allow DIR        the only directory backups may read (required with --backup-store)
  --duration-s S            stop after S seconds (default: run until quit or SIGTERM)
  --at "<s> <command>"      run a command S seconds after start; repeatable
  --every "<s> <command>"   run a command every S seconds (e.g. "20 kill 2"); repeatable
  --no-deregister           on exit, let agents go silent instead of stopping cleanly
  --data-dir DIR            agent journals (default: a new temp directory)
  -h, --help                this text

${COMMANDS_HELP}

Output: one JSON line per fleet event on stdout (started, killed, revived, ..., summary); a progress
line on stderr every 2 s. Environment: KAFKA_BROKERS (127.0.0.1:9092), SCHEMA_REGISTRY_URL
(http://127.0.0.1:8081/apis/ccompat/v7), SCHEMA_REGISTRY_USERNAME and _PASSWORD (or _PASSWORD_FILE),
KAFKA_SASL_MECHANISM with KAFKA_SASL_USERNAME and _PASSWORD (or _PASSWORD_FILE), KAFKA_TLS,
KAFKA_TLS_CA_FILE, LOG_LEVEL (warn); OTEL_TRACES_EXPORTER and the other
OTEL_* variables to trace the fleet's publishes (service vigil-fleet-sim).
Exit status: 0 after a clean run, 2 on bad arguments.`;

function positiveInt(name: string, v: string | undefined, min = 1): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`fleet-sim: --${name} must be an integer >= ${min}, got "${v ?? ''}"\n`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      options: {
        agents: { type: 'string', default: '100' },
        prefix: { type: 'string', default: 'sim' },
        'interval-ms': { type: 'string', default: '1000' },
        'miss-threshold': { type: 'string', default: '3' },
        'start-period-ms': { type: 'string', default: '0' },
        'state-change-rate': { type: 'string', default: '0' },
        'agents-per-connection': { type: 'string', default: '500' },
        'agents-per-host': { type: 'string', default: '10' },
        'heal-success': { type: 'string' },
        'heal-latency-ms': { type: 'string', default: '500' },
        'backup-store': { type: 'string' },
        'backup-allow': { type: 'string' },
        'duration-s': { type: 'string' },
        at: { type: 'string', multiple: true, default: [] },
        every: { type: 'string', multiple: true, default: [] },
        'no-deregister': { type: 'boolean', default: false },
        'data-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    process.stderr.write(`fleet-sim: ${(e as Error).message}\n`);
    return 2;
  }
  const { values } = parsed;
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  const level = process.env.LOG_LEVEL ?? 'warn';
  const log =
    (lvl: string, rank: number) =>
    (o: object, m?: string): void => {
      const ranks: Record<string, number> = { debug: 0, info: 1, warn: 2, error: 3 };
      if (rank >= (ranks[level] ?? 2)) process.stderr.write(`${JSON.stringify({ level: lvl, msg: m, ...o })}\n`);
    };
  const print = (o: object) => process.stdout.write(`${JSON.stringify(o)}\n`);
  let heal: { success: number; latencyMs: number } | undefined;
  if (values['heal-success'] !== undefined) {
    const success = Number(values['heal-success']);
    if (!(success >= 0 && success <= 1)) {
      process.stderr.write(
        `fleet-sim: --heal-success must be a probability in [0, 1], got "${values['heal-success']}"\n`,
      );
      return 2;
    }
    heal = { success, latencyMs: positiveInt('heal-latency-ms', values['heal-latency-ms'], 0) };
  }
  const backupStore = values['backup-store'];
  const backupAllow = values['backup-allow'];
  if (Boolean(backupStore) !== Boolean(backupAllow) || (backupAllow && !path.isAbsolute(backupAllow))) {
    process.stderr.write('fleet-sim: --backup-store and --backup-allow go together; --backup-allow is absolute\n');
    return 2;
  }
  const fleet = new Fleet(
    {
      agents: positiveInt('agents', values.agents),
      prefix: values.prefix!,
      intervalMs: positiveInt('interval-ms', values['interval-ms'], 100),
      missThreshold: positiveInt('miss-threshold', values['miss-threshold']),
      startPeriodMs: positiveInt('start-period-ms', values['start-period-ms'], 0),
      stateChangeRate: positiveInt('state-change-rate', values['state-change-rate'], 0),
      agentsPerConnection: positiveInt('agents-per-connection', values['agents-per-connection']),
      agentsPerHost: positiveInt('agents-per-host', values['agents-per-host']),
      heal,
      backups: backupStore && backupAllow ? { storeDir: backupStore, allow: [backupAllow] } : undefined,
      brokers: parseBrokers(process.env.KAFKA_BROKERS ?? '127.0.0.1:9092'),
      registryUrl: process.env.SCHEMA_REGISTRY_URL ?? 'http://127.0.0.1:8081/apis/ccompat/v7',
      security: kafkaSecurityFromEnv(),
      registryAuth: registryAuthFromEnv(),
      dataDir: values['data-dir'],
      logger: { debug: log('debug', 0), info: log('info', 1), warn: log('warn', 2), error: log('error', 3) },
    },
    (e: FleetEvent) => print(e),
  );

  // The fleet's host traces as a host embedding the SDK would, when the OTEL_* env asks for it
  // (the SDK itself only uses the OpenTelemetry API).
  if (process.env.OTEL_TRACES_EXPORTER) {
    process.env.OTEL_METRICS_EXPORTER ??= 'none';
    process.env.OTEL_LOGS_EXPORTER ??= 'none';
  }
  const tracing = process.env.OTEL_TRACES_EXPORTER
    ? new NodeSDK({ serviceName: process.env.OTEL_SERVICE_NAME ?? 'vigil-fleet-sim' })
    : undefined;
  tracing?.start();
  const started = Date.now();
  await fleet.start((n) => process.stderr.write(`fleet-sim: ${n} agents started\n`));
  const progress = setInterval(() => {
    const c = fleet.counts();
    const s = fleet.stats();
    process.stderr.write(
      `fleet-sim: ${Math.round((Date.now() - started) / 1000)}s | beating ${c.beating} killed ${c.killed} frozen ${c.frozen} ` +
        `flapping ${c.flapping} stopped ${c.stopped} degraded ${c.degraded} skewed ${c.skewed} | ` +
        `state changes ${s.stateChanges} delivered ${s.delivered} dropped heartbeats ${s.droppedHeartbeats}\n`,
    );
  }, 2000);

  let finish!: () => void;
  const finished = new Promise<void>((r) => (finish = r));
  const execute = (line: string) =>
    runCommand(fleet, line, print).then(
      (goOn) => goOn || finish(),
      (e: Error) => print({ event: 'error', at: Date.now(), command: line, error: e.message }),
    );
  const timers: NodeJS.Timeout[] = [];
  for (const [flag, specs] of [
    ['at', values.at],
    ['every', values.every],
  ] as const) {
    for (const spec of specs ?? []) {
      const m = /^(\d+(?:\.\d+)?)\s+(.+)$/.exec(spec);
      if (!m || (flag === 'every' && Number(m[1]) <= 0)) {
        process.stderr.write(`fleet-sim: --${flag} "${spec}" is not "<seconds> <command>"\n`);
        return 2;
      }
      const run = () => void execute(m[2]!);
      timers.push(flag === 'at' ? setTimeout(run, Number(m[1]) * 1000) : setInterval(run, Number(m[1]) * 1000));
    }
  }
  if (values['duration-s']) setTimeout(finish, positiveInt('duration-s', values['duration-s']) * 1000);
  // Commands from stdin; its end (e.g. /dev/null in the background) does not end the run.
  createInterface({ input: process.stdin }).on('line', (line) => void execute(line));
  process.once('SIGTERM', finish);
  process.once('SIGINT', finish);

  await finished;
  clearInterval(progress);
  for (const t of timers) clearTimeout(t);
  await fleet.close(!values['no-deregister']);
  await tracing?.shutdown();
  print({
    event: 'summary',
    at: Date.now(),
    seconds: Math.round((Date.now() - started) / 1000),
    counts: fleet.counts(),
    stats: fleet.stats(),
  });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`fleet-sim failed: ${e.message}\n`);
    process.exit(1);
  },
);

// The contenders of state-sync-anchors as processes: how each is started, and how a backlog run of
// one is measured from outside it (progress from its group's committed offsets, CPU and memory from
// /proc), so that a Java process and a Node one are measured the same way.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '@vigil/test-kit';
import { brokers, type BenchKafka as Kafka } from './bench-clients';
import { cpuOf, rssOf } from './process-stats';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const BROKER_JARS = path.join(repoRoot, 'infra', 'kafka', 'target', 'dependency');
const ANCHOR_DIR = path.join(repoRoot, 'bench', 'streams-anchor');

/** One log file per process start, kept for reading after the run. */
export const logDir = mkdtempSync(path.join(os.tmpdir(), 'vigil-anchors-'));
let starts = 0;
export function spawnLogged(
  name: string,
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): ChildProcess {
  const log = openSync(path.join(logDir, `${++starts}-${name}.log`), 'w');
  return spawn(cmd, args, { env, stdio: ['ignore', log, log] });
}

/**
 * Builds the Kafka Streams anchor with Maven (once per pom and source) at the broker's Kafka
 * version: a Streams app of another version than the broker would measure something else.
 */
export function buildStreamsAnchor(): void {
  const version = (file: string) => /<kafka.version>(.*)<\/kafka.version>/.exec(readFileSync(file, 'utf8'))?.[1];
  const broker = version(path.join(repoRoot, 'infra', 'kafka', 'pom.xml'));
  const anchor = version(path.join(ANCHOR_DIR, 'pom.xml'));
  if (broker !== anchor)
    throw new Error(`bench/streams-anchor/pom.xml has Kafka ${anchor}, the broker ${broker}: make them equal`);
  const built = spawnSync('mvn', ['-q', '-B', 'package', 'dependency:copy-dependencies', '-DincludeScope=runtime'], {
    cwd: ANCHOR_DIR,
    encoding: 'utf8',
    env: { ...process.env, MAVEN_OPTS: '-Dstyle.color=never' },
  });
  if (built.status !== 0)
    throw new Error(`building the Kafka Streams anchor failed (mvn in ${ANCHOR_DIR}):\n${built.stdout}${built.stderr}`);
}

export function startStreamsAnchor(
  name: string,
  appId: string,
  input: string,
  output: string,
  guarantee: 'exactly_once_v2' | 'at_least_once',
  threads: number,
): ChildProcess {
  const cp = `${path.join(ANCHOR_DIR, 'target', 'classes')}:${path.join(ANCHOR_DIR, 'target', 'dependency', '*')}`;
  const stateDir = mkdtempSync(path.join(os.tmpdir(), `vigil-streams-${guarantee}-`));
  return spawnLogged(name, 'java', [
    '-Xmx1g',
    '-cp',
    cp,
    'dev.vigil.bench.StateSyncStreams',
    brokers(),
    appId,
    input,
    output,
    guarantee,
    stateDir,
    String(threads),
  ]);
}

/** Runs one of Kafka's own tools (org.apache.kafka.tools.*) from the broker's jars; returns its output. */
export async function runKafkaTool(
  tool: string,
  args: string[],
): Promise<{ output: string; cpuSeconds: number; peakRssMiB: number }> {
  const child = spawn('java', ['-Xmx512m', '-cp', `${BROKER_JARS}/*`, `org.apache.kafka.tools.${tool}`, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  let cpu = 0;
  let peak = 0;
  const sampler = setInterval(() => {
    try {
      cpu = cpuOf(child.pid!);
      peak = Math.max(peak, rssOf(child.pid!) || 0);
    } catch {
      // exited between samples
    }
  }, 100);
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  clearInterval(sampler);
  if (code !== 0) throw new Error(`${tool} exited with ${code}:\n${output}`);
  return { output, cpuSeconds: cpu, peakRssMiB: Math.round(peak / 2 ** 20) };
}

export interface BacklogFigures {
  records: number;
  eventsPerSecond: number;
  cpuSecondsPer100k: number;
  peakRssMiB: number;
  seconds: number;
}

/**
 * Watches `child` work through `topic` up to `ends` under group `group`. The clock starts at the
 * group's first committed progress, so process start, group join and (for state-sync) the changelog
 * restore are not counted; CPU is counted over the same span.
 */
export async function measureBacklog(
  kafka: Kafka,
  child: ChildProcess,
  group: string,
  topic: string,
  ends: Map<number, bigint>,
  timeoutMs = 900_000,
): Promise<BacklogFigures> {
  const admin = kafka.admin();
  await admin.connect();
  const target = sum(ends);
  const committed = async () => {
    const [offsets] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
    return (offsets?.partitions ?? []).reduce((a, p) => a + Math.max(0, Number(p.offset)), 0);
  };
  const before = await committed();
  let from: { at: number; done: number; cpu: number } | undefined;
  let peak = 0;
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the contender exited (${group})`);
      if (Date.now() > deadline) throw new Error(`${group} did not catch up within ${timeoutMs} ms`);
      peak = Math.max(peak, rssOf(child.pid!));
      const done = await committed();
      const now = Date.now();
      if (!from && done > before) from = { at: now, done, cpu: cpuOf(child.pid!) };
      if (from && done >= target) {
        const records = done - from.done;
        const seconds = (now - from.at) / 1000;
        const cpu = cpuOf(child.pid!) - from.cpu;
        return {
          records,
          seconds: Number(seconds.toFixed(2)),
          eventsPerSecond: Math.round(records / Math.max(seconds, 0.001)),
          cpuSecondsPer100k: Number(((cpu / Math.max(records, 1)) * 100_000).toFixed(2)),
          peakRssMiB: Math.round(peak / 2 ** 20),
        };
      }
      await sleep(250);
    }
  } finally {
    await admin.disconnect();
  }
}

export const sum = (m: Map<number, bigint>) => [...m.values()].reduce((a, b) => a + Number(b), 0);

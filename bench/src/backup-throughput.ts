#!/usr/bin/env node
// The agent's backup archiver on a tree of many small files and a few large ones, side by side in
// one run with `tar czf` of the same tree; then the agent's restore of that archive side by side
// with `tar xzf` of the same archive: throughput, memory over time, CPU.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { percentile } from '@vigil/test-kit';
import { cpuOf, rssOf } from './process-stats';
import { writeReport } from './report';

const HELP = `backup-throughput: archive a generated tree with the agent's archiver (tar + gzip streamed into a
directory store, every file and the archive hashed while streaming, a manifest of the tree) and with
\`tar czf\`, in the same run; then an incremental after 1% of the files changed; then restores of
the agent's full archive with the agent's restore (checksum of the archive, extraction into a staging
tree with every file hashed, modes and mtimes, swap) and with \`tar xzf\`, and of the full +
incremental chain. The restore MB/s of archive bytes is what restore plans estimate with
(RESTORE_THROUGHPUT_MBPS).

Usage: node bench/dist/backup-throughput.js [--size-mb N] [--large N] [--keep]
  --size-mb N   size of the tree (default 1024): half in small files (4-60 KB), half in --large files
  --large N     how many large files (default 4)
  --keep        keep the tree and the archives (under the temp dir printed)
Writes bench/results/backup-throughput.json. Content is base64 of random bytes (gzip gets ~25%),
so the figures are gzip-bound, as real data mostly is.`;

interface Run {
  seconds: number;
  cpuCores: number;
  rssMB: { p50: number; max: number; samples: number[] };
  output: string;
}

/** Runs a process to its end, sampling its RSS and CPU from /proc every 250 ms. */
function measure(cmd: string, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    const samples: number[] = [];
    let cpu = 0;
    // tar -z runs gzip in a process of its own: the figures are the process tree's (CPU of each, summed).
    const cpuSeen = new Map<number, number>();
    const sample = () => {
      const tree = [child.pid!, ...childrenOf(child.pid!)];
      let rss = 0;
      for (const pid of tree) {
        try {
          rss += rssOf(pid);
          cpuSeen.set(pid, cpuOf(pid));
        } catch {
          // exited between two samples
        }
      }
      if (rss > 0) samples.push(Math.round(rss / 1e6));
      cpu = [...cpuSeen.values()].reduce((a, b) => a + b, 0);
    };
    const timer = setInterval(sample, 250);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearInterval(timer);
      if (code !== 0) return reject(new Error(`${cmd} exited with ${code}`));
      const seconds = (Date.now() - started) / 1000;
      resolve({
        seconds,
        cpuCores: Math.round((cpu / seconds) * 100) / 100,
        rssMB: {
          p50: percentile(samples, 50),
          max: Math.max(...samples),
          samples: samples.filter((_, i) => i % 4 === 0),
        },
        output,
      });
    });
  });
}

/** Every descendant of a process (tar -z forks, and the fork runs gzip), from /proc. */
function childrenOf(pid: number): number[] {
  let direct: number[];
  try {
    direct = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
  return direct.flatMap((c) => [c, ...childrenOf(c)]);
}

function generate(dir: string, sizeMb: number, large: number): { files: number; bytes: number } {
  const half = (sizeMb * 1024 * 1024) / 2;
  let bytes = 0;
  let files = 0;
  const text = (n: number) =>
    randomBytes(Math.ceil((n * 3) / 4))
      .toString('base64')
      .slice(0, n);
  for (let i = 0; bytes < half; i++) {
    const sub = path.join(dir, 'small', `d${Math.floor(i / 500)}`);
    if (i % 500 === 0) mkdirSync(sub, { recursive: true });
    const n = 4096 + Math.floor(Math.random() * 57_344);
    writeFileSync(path.join(sub, `f${i}.txt`), text(n));
    bytes += n;
    files++;
  }
  mkdirSync(path.join(dir, 'large'));
  const each = Math.floor(half / large);
  const chunk = text(8 * 1024 * 1024);
  for (let i = 0; i < large; i++) {
    const parts: string[] = [];
    for (let left = each; left > 0; left -= chunk.length)
      parts.push(left >= chunk.length ? text(chunk.length) : text(left));
    writeFileSync(path.join(dir, 'large', `blob${i}.bin`), parts.join(''));
    bytes += each;
    files++;
  }
  return { files, bytes };
}

async function main() {
  const { values } = parseArgs({
    options: {
      'size-mb': { type: 'string', default: '1024' },
      large: { type: 'string', default: '4' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const sizeMb = Number(values['size-mb']);
  const work = mkdtempSync(path.join(tmpdir(), 'vigil-bench-backup-'));
  const data = path.join(work, 'data');
  const store = path.join(work, 'store');
  mkdirSync(data);
  console.error(`generating ${sizeMb} MB under ${data}`);
  const tree = generate(data, sizeMb, Number(values.large));
  const mb = tree.bytes / 1e6;
  const worker = path.join(__dirname, 'backup-worker.js');

  console.error('tar czf');
  const tar = await measure('tar', ['czf', path.join(work, 'tar.tar.gz'), '-C', work, 'data']);
  console.error('the agent archiver: full');
  const full = await measure(process.execPath, [worker, store, data, 'full', 'full']);
  const fullOut = JSON.parse(full.output) as { manifestLocation: string; sizeBytes: number; fileCount: number };
  // 1% of the small files rewritten: what an incremental carries.
  let touched = 0;
  for (let i = 0; i < tree.files; i += 100) {
    const f = path.join(data, 'small', `d${Math.floor(i / 500)}`, `f${i}.txt`);
    try {
      const t = Date.now() / 1000 + 10;
      utimesSync(f, t, t);
      touched++;
    } catch {
      // past the small files
    }
  }
  console.error(`the agent archiver: incremental after ${touched} files changed`);
  const inc = await measure(process.execPath, [worker, store, data, 'incremental', 'inc', fullOut.manifestLocation]);
  const incOut = JSON.parse(inc.output) as { sizeBytes: number; fileCount: number };

  const fullArchive = JSON.parse(full.output) as { location: string; manifestLocation: string; sha256: string };
  const incArchive = JSON.parse(inc.output) as { location: string; manifestLocation: string; sha256: string };
  const restoreWorker = path.join(__dirname, 'restore-worker.js');
  const journal = path.join(work, 'journal');
  console.error('tar xzf of the agent archive');
  mkdirSync(path.join(work, 'out-tar'));
  const untar = await measure('tar', ['xzf', fullArchive.location, '-C', path.join(work, 'out-tar')]);
  rmSync(path.join(work, 'out-tar'), { recursive: true, force: true });
  console.error('the agent restore: the full');
  const restoreFull = await measure(process.execPath, [
    restoreWorker,
    store,
    path.join(work, 'out-full'),
    journal,
    JSON.stringify([fullArchive]),
  ]);
  rmSync(path.join(work, 'out-full'), { recursive: true, force: true });
  console.error('the agent restore: full + incremental');
  const restoreChain = await measure(process.execPath, [
    restoreWorker,
    store,
    path.join(work, 'out-chain'),
    journal,
    JSON.stringify([fullArchive, incArchive]),
  ]);
  const archiveMb = fullOut.sizeBytes / 1e6;
  const restoreFigures = (r: Run, archiveMB: number) => ({
    treeMBps: Math.round(mb / r.seconds),
    archiveMBps: Math.round(archiveMB / r.seconds),
    seconds: r.seconds,
    cpuCores: r.cpuCores,
    rssMB: r.rssMB,
  });

  const figures = {
    tree: { files: tree.files, MB: Math.round(mb) },
    tarCzf: {
      MBps: Math.round(mb / tar.seconds),
      seconds: tar.seconds,
      cpuCores: tar.cpuCores,
      rssMB: tar.rssMB,
      archiveMB: Math.round(statSync(path.join(work, 'tar.tar.gz')).size / 1e6),
    },
    agentFull: {
      MBps: Math.round(mb / full.seconds),
      seconds: full.seconds,
      cpuCores: full.cpuCores,
      rssMB: full.rssMB,
      archiveMB: Math.round(fullOut.sizeBytes / 1e6),
      entries: fullOut.fileCount,
    },
    agentIncremental: {
      changedFiles: touched,
      seconds: inc.seconds,
      cpuCores: inc.cpuCores,
      rssMB: inc.rssMB,
      archiveMB: Math.round((incOut.sizeBytes / 1e6) * 10) / 10,
      entries: incOut.fileCount,
    },
    tarXzf: restoreFigures(untar, archiveMb),
    agentRestoreFull: restoreFigures(restoreFull, archiveMb),
    agentRestoreChain: restoreFigures(restoreChain, archiveMb + incOut.sizeBytes / 1e6),
  };
  if (!values.keep) rmSync(work, { recursive: true, force: true });
  writeReport('backup-throughput', figures);
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`backup-throughput failed: ${e.message}`);
    process.exit(1);
  },
);

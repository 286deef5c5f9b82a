#!/usr/bin/env node
// What embedding the agent SDK costs a host: install size, load time, added RSS, modules loaded.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { installSdkFromTarball, installSize, summarize } from '@vigil/test-kit';
import { writeReport } from './report';

const HELP = `sdk-footprint: the agent SDK's install size and its load cost in a fresh Node process.

Usage: node bench/dist/sdk-footprint.js [--runs N] [--entry PATH]
  --runs N       fresh processes to load it in (default 9); the median and max are reported
  --entry PATH   measure the load of this built entry instead of installing the packed SDK
                 (e.g. the libs/agent-sdk/dist/index.js of an older checkout, for a before/after)
Packs the SDK with infra/pack-sdk.sh and installs it into an empty temp project (npm). Writes
bench/results/sdk-footprint.json. Needs no broker: loading must not connect to anything.`;

/** Loads the module in a fresh process and reports what that cost (CommonJS require). */
function loadOnce(entry: string, cwd: string) {
  const script = `
    const t0 = process.hrtime.bigint();
    const rss0 = process.memoryUsage().rss;
    require(${JSON.stringify(entry)});
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const rssMiB = (process.memoryUsage().rss - rss0) / 2 ** 20;
    console.log(JSON.stringify({ ms, rssMiB, modules: Object.keys(require.cache).length }));`;
  const out = execFileSync(process.execPath, ['-e', script], { cwd, encoding: 'utf8' });
  return JSON.parse(out.trim()) as { ms: number; rssMiB: number; modules: number };
}

function main() {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '9' },
      entry: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return console.log(HELP);
  const runs = Number(values.runs);
  let install: Record<string, unknown> | undefined;
  let entry = values.entry ? path.resolve(values.entry) : '@vigil/agent-sdk';
  let cwd = process.cwd();
  if (!values.entry) {
    console.error('packing and installing the SDK into an empty project');
    const sdk = installSdkFromTarball();
    const size = installSize(path.join(sdk.dir, 'node_modules'));
    install = {
      tarball: path.basename(sdk.tarball),
      seconds: sdk.installSeconds,
      MiB: Number((size.bytes / 2 ** 20).toFixed(1)),
      packages: size.packages,
    };
    cwd = sdk.dir;
    entry = '@vigil/agent-sdk';
  }
  loadOnce(entry, cwd); // warm the file system cache: what is measured is loading, not the disk
  const samples = Array.from({ length: runs }, () => loadOnce(entry, cwd));
  const round = (s: ReturnType<typeof summarize>) => ({ p50: Number(s.p50.toFixed(1)), max: Number(s.max.toFixed(1)) });
  writeReport('sdk-footprint', {
    entry: values.entry ?? 'installed tarball',
    runs,
    install,
    loadMs: round(summarize(samples.map((s) => s.ms))),
    addedRssMiB: round(summarize(samples.map((s) => s.rssMiB))),
    modulesLoaded: samples[0]!.modules,
  });
}

main();

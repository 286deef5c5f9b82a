import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Samples this process's resident memory; `peak()` is the highest seen. */
export function rssSampler(intervalMs = 200): { peak: () => number; stop: () => void } {
  let peak = process.memoryUsage().rss;
  const t = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), intervalMs);
  return { peak: () => peak, stop: () => clearInterval(t) };
}

/** bench/results/, where every bench writes its figures. */
export const resultsDir = (): string => path.resolve(__dirname, '..', 'results');

/** Prints the figures and writes them, with the run's parameters, to bench/results/<name>.json. */
export function writeReport(name: string, figures: Record<string, unknown>): string {
  const dir = resultsDir();
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.json`);
  const body = {
    name,
    at: new Date().toISOString(),
    node: process.version,
    cpus: os.cpus().length,
    ...figures,
  };
  writeFileSync(file, `${JSON.stringify(body, null, 2)}\n`);
  console.log(JSON.stringify(body, null, 2));
  console.log(`written to ${file}`);
  return file;
}

import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

/** The functions with the most self time in a V8 .cpuprofile (from node --cpu-prof), in percent. */
export function topSelfTime(dir: string, limit = 15): Array<{ fn: string; selfPercent: number }> {
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) return [];
  const profile = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as { nodes: ProfileNode[] };
  const byFn = new Map<string, number>();
  let total = 0;
  for (const n of profile.nodes) {
    const hits = n.hitCount ?? 0;
    total += hits;
    const where = n.callFrame.url
      ? `${n.callFrame.url.replace(/^.*node_modules\//, '').replace(/^.*\/(services|libs)\//, '$1/')}:${n.callFrame.lineNumber + 1}`
      : '';
    const key = `${n.callFrame.functionName || '(anonymous)'} ${where}`.trim();
    byFn.set(key, (byFn.get(key) ?? 0) + hits);
  }
  return [...byFn]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([fn, hits]) => ({ fn, selfPercent: Number(((100 * hits) / Math.max(1, total)).toFixed(1)) }));
}

/** Self time per package (a node_modules package, a workspace lib or service, node itself, GC, idle), in percent. */
export function selfTimeByPackage(dir: string, limit = 15): Array<{ where: string; selfPercent: number }> {
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) return [];
  const profile = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as { nodes: ProfileNode[] };
  const byPackage = new Map<string, number>();
  let total = 0;
  for (const n of profile.nodes) {
    const hits = n.hitCount ?? 0;
    total += hits;
    const url = n.callFrame.url;
    const where = !url
      ? n.callFrame.functionName.startsWith('(')
        ? n.callFrame.functionName
        : '(native)'
      : (/node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)?.[1] ??
        /\/((?:services|libs|tools)\/[^/]+)\//.exec(url)?.[1] ??
        (url.startsWith('node:') ? 'node internals' : url));
    byPackage.set(where, (byPackage.get(where) ?? 0) + hits);
  }
  return [...byPackage]
    .sort((a, b) => b[1] - a[1])
    .slice(0, limit)
    .map(([where, hits]) => ({ where, selfPercent: Number(((100 * hits) / Math.max(1, total)).toFixed(1)) }));
}

/**
 * Profiles this process while `work` runs (not the whole run, as --cpu-prof would) and leaves the
 * profile as the only .cpuprofile in `dir`, for topSelfTime and selfTimeByPackage.
 */
export async function profiled<T>(dir: string, work: () => Promise<T>): Promise<T> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  try {
    return await work();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'profile.cpuprofile'), JSON.stringify(profile));
  }
}

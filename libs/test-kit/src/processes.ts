// Running real processes from tests: the infra scripts and the services' compiled entry points.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import path from 'node:path';
import { waitUntil } from '@vigil/kafka/testing';

/** The workspace root (this file runs from libs/test-kit/dist). */
export const repoRoot = path.resolve(__dirname, '../../..');

/** The environment without the variables that point at already-running infra. */
export function envWithout(keys: string[], extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of keys) delete env[k];
  return { ...env, ...extra };
}

export interface ScriptResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** How a repository script is run: bash, the script's path from the root, its arguments. */
function scriptArgv(script: string, args: string[]): string[] {
  return [path.join(repoRoot, script), ...args];
}

export function runScript(script: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 300000): ScriptResult {
  const r = spawnSync('bash', scriptArgv(script, args), { env, encoding: 'utf8', timeout: timeoutMs });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * runScript without blocking the event loop: for a script that runs while the caller keeps working
 * (a broker restarted under load: spawnSync would stall the load, the timers and every other fault).
 */
export function runScriptAsync(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 300000,
): Promise<ScriptResult> {
  return new Promise((resolve) => {
    const child = spawn('bash', scriptArgv(script, args), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export async function isPortOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

export interface ServiceProcess {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartServiceOptions {
  args?: string[];
  /** Flags for node itself, e.g. --cpu-prof; after the service's launch flags, so they win. */
  nodeArgs?: string[];
  /** Write the service's output to this file instead of collecting it (long runs, kept logs). */
  logFile?: string;
}

/**
 * The node flags a service is launched with: those of its package.json start script
 * (`node <flags> dist/main.js`), so that tests and benches run it as operators do.
 */
export function launchFlags(service: string): string[] {
  const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'services', service, 'package.json'), 'utf8')) as {
    scripts?: { start?: string };
  };
  const words = (pkg.scripts?.start ?? '').split(/\s+/);
  return words.slice(1, words.indexOf('dist/main.js')).filter((w) => w.startsWith('--'));
}

/**
 * Starts a service's compiled main.js, with its launch flags, and the given env; its stdout+stderr
 * are collected (or logged to a file).
 */
export function startService(
  service: string,
  env: NodeJS.ProcessEnv,
  options: StartServiceOptions = {},
): ServiceProcess {
  const log = options.logFile ? openSync(options.logFile, 'w') : undefined;
  const child = spawn(
    process.execPath,
    [
      ...launchFlags(service),
      ...(options.nodeArgs ?? []),
      path.join(repoRoot, 'services', service, 'dist', 'main.js'),
      ...(options.args ?? []),
    ],
    {
      env,
      stdio: log === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', log, log],
    },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => out, exited };
}

/**
 * SIGTERM, then SIGKILL if the process is still there after graceMs; resolves once it exited.
 * Safe on a process that already exited.
 */
export async function stopProcess(child: ChildProcess, graceMs = 15000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
  clearTimeout(timer);
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGKILL');
    await exited;
  }
}

/** Waits until GET http://127.0.0.1:<port><path> answers 2xx (connection refusals count as "not yet"). */
export async function waitHttpOk(port: number, urlPath: string, timeoutMs: number, what: string): Promise<void> {
  await waitUntil(
    async () => {
      try {
        return (await fetch(`http://127.0.0.1:${port}${urlPath}`)).ok;
      } catch {
        return false;
      }
    },
    timeoutMs,
    what,
  );
}

/**
 * Waits for a started service's readiness. If it never comes, the service is killed (or it would
 * join its groups later and consume behind the tests that follow) and the error ends with its log tail.
 */
export async function waitServiceReady(
  service: ServiceProcess,
  port: number,
  timeoutMs: number,
  what: string,
): Promise<void> {
  await waitHttpOk(port, '/health/ready', timeoutMs, what).catch((e: Error) => {
    service.child.kill('SIGKILL');
    throw new Error(`${e.message}\n--- ${what}: log (tail) ---\n${service.output().slice(-8000)}`);
  });
}

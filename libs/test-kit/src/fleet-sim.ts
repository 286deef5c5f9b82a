// Drives tools/fleet-sim (real SDK agents) as a process: commands on its stdin, JSON events from its stdout.
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { waitUntil } from '@vigil/kafka/testing';
import { repoRoot } from './processes';

export interface FleetEvent {
  event: string;
  at: number;
  agents?: string[];
  lastBeats?: Record<string, number | null>;
  [k: string]: unknown;
}

export interface RunningFleet {
  child: ChildProcess;
  events: FleetEvent[];
  send(command: string): void;
  /** The next event of this kind from now on; throws if the simulator refused a command. */
  waitFor(event: string, timeoutMs?: number): Promise<FleetEvent>;
  /** `quit` on stdin (agents close cleanly, deregistering), SIGKILL if it does not end in 15 s. */
  quit(): Promise<void>;
  /** SIGKILL: every agent goes silent at once, nobody deregisters. */
  kill(): Promise<void>;
}

export interface FleetOptions {
  agents: number;
  /** Agent ids are `<prefix>-<n>`: a run's own prefix keeps its agents apart from everyone else's. */
  prefix: string;
  intervalMs: number;
  agentsPerConnection?: number;
  /** Further fleet-sim arguments (see its --help). */
  args?: string[];
  env?: NodeJS.ProcessEnv;
}

export function startFleet(options: FleetOptions): RunningFleet {
  const args = [
    ...['--agents', String(options.agents), '--prefix', options.prefix, '--interval-ms', String(options.intervalMs)],
    ...(options.agentsPerConnection ? ['--agents-per-connection', String(options.agentsPerConnection)] : []),
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, [path.join(repoRoot, 'tools/fleet-sim/dist/main.js'), ...args], {
    env: options.env ?? process.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const events: FleetEvent[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    try {
      events.push(JSON.parse(line) as FleetEvent);
    } catch {
      // not an event line
    }
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const gone = () => child.exitCode !== null || child.signalCode !== null;
  return {
    child,
    events,
    send: (command) => child.stdin!.write(`${command}\n`),
    async waitFor(event, timeoutMs = 60000) {
      const seen = events.length;
      await waitUntil(
        () => events.slice(seen).some((e) => e.event === event) || events.some((e) => e.event === 'error'),
        timeoutMs,
        `fleet-sim event "${event}" (stderr: ${stderr.slice(-500)})`,
      );
      const err = events.find((e) => e.event === 'error');
      if (err) throw new Error(`fleet-sim refused a command: ${JSON.stringify(err)}`);
      return events.slice(seen).find((e) => e.event === event)!;
    },
    async quit() {
      if (gone()) return;
      child.stdin!.write('quit\n');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 15000).unref())]);
      if (!gone()) child.kill('SIGKILL');
      await exited;
    },
    async kill() {
      if (gone()) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}

// The soak's service instances: started with their output in a file each (a long run's only record of
// why an instance did what it did), and brought back until ready: a restart that exits or stays
// unready is itself a finding, logged with its tail and counted, and replaced rather than left to
// hang the run.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { freePort, startService, stopProcess, waitUntil, type ServiceProcess } from '@vigil/test-kit';

export type Role = 'state-sync' | 'heartbeat' | 'notifier' | 'backup-orchestrator';

export interface Instance {
  role: Role;
  proc: ServiceProcess;
  port: number;
  logFile: string;
  /** Picked by a kill: no other fault picks it meanwhile. */
  dying?: boolean;
}

export interface InstancePoolOptions {
  /** Where each instance's output goes, `<role>-<n>.log`. */
  logDir: string;
  /** Each role's environment beyond the infra's (its consumer group, policy files). */
  env: Partial<Record<Role, Record<string, string>>>;
  /** How long one start may take to answer ready before it counts as failed (default 120 s). */
  readyTimeoutMs?: number;
  /** Starts tried before the pool gives up on a role (default 5). */
  attempts?: number;
  log: (line: string) => void;
}

export class InstancePool {
  readonly live: Instance[] = [];
  /** Every start that did not become ready, with the reason and the log tail. */
  readonly failedStarts: string[] = [];
  private started = 0;
  private stopping = false;

  constructor(private readonly o: InstancePoolOptions) {}

  /** Starts an instance of `role` and resolves once it answers ready; throws after `attempts` failures. */
  async start(role: Role): Promise<Instance> {
    const attempts = this.o.attempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      const began = Date.now();
      const inst = await this.spawn(role);
      const outcome = await this.waitReady(inst);
      if (outcome === 'ready') {
        this.live.push(inst);
        this.o.log(`  ${role} started on :${inst.port} in ${Date.now() - began} ms (${path.basename(inst.logFile)})`);
        return inst;
      }
      await stopProcess(inst.proc.child, 5000).catch(() => undefined);
      const why = `${role} on :${inst.port} (${inst.logFile}) ${outcome} after ${Date.now() - began} ms`;
      this.failedStarts.push(why);
      this.o.log(`  start failed: ${why}; last lines:\n${tail(inst.logFile, 15)}`);
      if (this.stopping) throw new Error(`the soak is stopping: ${why}`);
      if (attempt >= attempts) throw new Error(`${role} failed to start ${attempts} times; last: ${why}`);
    }
  }

  /** Forgets an instance a fault killed. */
  remove(inst: Instance): void {
    const i = this.live.indexOf(inst);
    if (i >= 0) this.live.splice(i, 1);
  }

  /**
   * A random instance no other kill has picked; when every one is being killed (restarts take longer
   * than the gap between kills), the fault waits for the next to be ready rather than being dropped.
   */
  async pick(random: () => number, timeoutMs = 300_000): Promise<Instance> {
    const candidates = () => this.live.filter((i) => !i.dying);
    await waitUntil(() => candidates().length > 0, timeoutMs, 'an instance ready to be picked by a fault');
    const now = candidates();
    return now[Math.floor(random() * now.length)]!;
  }

  async stopAll(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.live.map((i) => stopProcess(i.proc.child).catch(() => undefined)));
  }

  private async spawn(role: Role): Promise<Instance> {
    const port = await freePort();
    const logFile = path.join(this.o.logDir, `${role}-${++this.started}.log`);
    const env: NodeJS.ProcessEnv = { ...process.env, HTTP_PORT: String(port), LOG_LEVEL: 'info', ...this.o.env[role] };
    return { role, proc: startService(role, env, { logFile }), port, logFile };
  }

  private async waitReady(inst: Instance): Promise<'ready' | string> {
    let exited: string | undefined;
    void inst.proc.exited.then(({ code, signal }) => (exited = `exited (${signal ?? code})`));
    try {
      await waitUntil(
        async () => {
          if (exited) return true;
          const res = await fetch(`http://127.0.0.1:${inst.port}/health/ready`).catch(() => undefined);
          return res?.ok === true;
        },
        this.o.readyTimeoutMs ?? 120_000,
        `${inst.role} readiness`,
      );
    } catch {
      const res = await fetch(`http://127.0.0.1:${inst.port}/health/ready`).catch(() => undefined);
      return `not ready (${res ? `${res.status} ${(await res.text()).slice(0, 300)}` : 'no answer'})`;
    }
    return exited ?? 'ready';
  }
}

/** The last `lines` lines of a file, for a failure message. */
export function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch (e) {
    return `(no log: ${(e as Error).message})`;
  }
}

/** A readiness check: resolves when the dependency answers, rejects with the reason otherwise. */
export type HealthCheck = () => Promise<void>;

/** How far a restore (state rebuilt from a log before serving) has come. */
export interface RestoreProgress {
  /** Records read so far. */
  read: number;
  /** Records to read in all (known when the restore started). */
  toRead: number;
}

export interface HealthReport {
  /** `restoring`: dependencies answer, but state is being rebuilt; `restoring` says how far it is. */
  status: 'ok' | 'restoring' | 'unavailable';
  checks: Record<string, { status: 'ok' | 'down'; error?: string; latencyMs: number }>;
  /** Why the instance is not ready although its dependencies answer (shutting down, restoring partitions). */
  holds?: string[];
  restoring?: Array<{ what: string } & RestoreProgress>;
}

/** Named readiness checks, each with a deadline so one hung dependency cannot hang /health. */
export class HealthRegistry {
  private readonly checks = new Map<string, HealthCheck>();
  private readonly holds = new Map<symbol, string>();
  private readonly restores = new Map<symbol, { what: string; progress: () => RestoreProgress }>();

  constructor(private readonly timeoutMs = 2000) {}

  register(name: string, check: HealthCheck): void {
    this.checks.set(name, check);
  }

  /**
   * Not ready until the returned release is called: for work during which this instance should get
   * no traffic and no new probes' trust (a partition being restored, a shutdown under way).
   */
  hold(reason: string): () => void {
    const id = Symbol(reason);
    this.holds.set(id, reason);
    return () => void this.holds.delete(id);
  }

  /**
   * Not ready while state is rebuilt (e.g. Redis from a changelog); the report says `restoring` and
   * how far each restore has come, so an operator can tell a long restore from a stuck one.
   */
  restoring(what: string, progress: () => RestoreProgress): () => void {
    const id = Symbol(what);
    this.restores.set(id, { what, progress });
    return () => void this.restores.delete(id);
  }

  async report(): Promise<HealthReport> {
    const holds = [...this.holds.values()];
    const restoring = [...this.restores.values()].map((r) => ({ what: r.what, ...r.progress() }));
    const entries = await Promise.all(
      [...this.checks].map(async ([name, check]) => {
        const started = Date.now();
        try {
          await withTimeout(check(), this.timeoutMs, name);
          return [name, { status: 'ok' as const, latencyMs: Date.now() - started }] as const;
        } catch (e) {
          return [
            name,
            { status: 'down' as const, error: (e as Error).message, latencyMs: Date.now() - started },
          ] as const;
        }
      }),
    );
    const checks = Object.fromEntries(entries);
    const answering = entries.every(([, r]) => r.status === 'ok') && holds.length === 0;
    const status = !answering ? 'unavailable' : restoring.length > 0 ? 'restoring' : 'ok';
    return { status, checks, ...(holds.length ? { holds } : {}), ...(restoring.length ? { restoring } : {}) };
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, name: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${name} check timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

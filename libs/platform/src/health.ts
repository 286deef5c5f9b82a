/** A readiness check: resolves when the dependency answers, rejects with the reason otherwise. */
export type HealthCheck = () => Promise<void>;

export interface HealthReport {
  status: 'ok' | 'unavailable';
  checks: Record<string, { status: 'ok' | 'down'; error?: string; latencyMs: number }>;
  /** Why the instance is not ready although its dependencies answer (shutting down, restoring partitions). */
  holds?: string[];
}

/** Named readiness checks, each with a deadline so one hung dependency cannot hang /health. */
export class HealthRegistry {
  private readonly checks = new Map<string, HealthCheck>();
  private readonly holds = new Map<symbol, string>();

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

  async report(): Promise<HealthReport> {
    const holds = [...this.holds.values()];
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
    const ok = entries.every(([, r]) => r.status === 'ok') && holds.length === 0;
    return { status: ok ? 'ok' : 'unavailable', checks, ...(holds.length ? { holds } : {}) };
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

/** The lines of a service's /metrics that start with prefix (e.g. `vigil_heartbeat_agents{`). */
export async function metricLines(port: number, prefix: string): Promise<string[]> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(prefix));
}

/** The sum of the values of those lines (0 when there are none). */
export async function metricSum(port: number, prefix: string): Promise<number> {
  return (await metricLines(port, prefix)).reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
}

/**
 * A quantile (0..1) of a Prometheus histogram, from its cumulative buckets, interpolated linearly
 * within the bucket as Prometheus' histogram_quantile does: an estimate no finer than the buckets.
 */
export async function histogramQuantile(port: number, name: string, q: number): Promise<number> {
  const buckets = (await metricLines(port, `${name}_bucket{`))
    .map((l) => ({
      le: Number(/le="([^"]+)"/.exec(l)![1]!.replace('+Inf', 'Infinity')),
      n: Number(l.split(' ').at(-1)),
    }))
    .sort((a, b) => a.le - b.le);
  const total = buckets.at(-1)?.n ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let prevLe = 0;
  let prevN = 0;
  for (const b of buckets) {
    if (b.n >= rank) {
      if (!Number.isFinite(b.le)) return prevLe;
      return prevLe + ((b.le - prevLe) * (rank - prevN)) / Math.max(b.n - prevN, 1);
    }
    prevLe = b.le;
    prevN = b.n;
  }
  return prevLe;
}

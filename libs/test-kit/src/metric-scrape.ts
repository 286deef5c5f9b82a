/** The lines of a service's /metrics that start with prefix (e.g. `vigil_heartbeat_agents{`). */
export async function metricLines(port: number, prefix: string): Promise<string[]> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(prefix));
}

/** The sum of the values of those lines (0 when there are none). */
export async function metricSum(port: number, prefix: string): Promise<number> {
  return (await metricLines(port, prefix)).reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
}

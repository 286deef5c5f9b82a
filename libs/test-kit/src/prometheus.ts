import { renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** One series of an instant query's answer. */
export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

/**
 * Has the Prometheus of infra/prometheus.sh scrape a service on this port (file-based discovery,
 * as `infra/prometheus.sh target` does); the returned function takes it out again.
 */
export function scrapeTarget(service: string, port: number): () => void {
  const dir = process.env.PROMETHEUS_TARGETS_DIR;
  if (!dir)
    throw new Error(
      'PROMETHEUS_TARGETS_DIR is not set: bring Prometheus up with infra/up.sh (or infra/prometheus.sh up)',
    );
  const file = path.join(dir, `${service}-${port}.json`);
  writeFileSync(`${file}.tmp`, JSON.stringify([{ targets: [`127.0.0.1:${port}`], labels: { service_name: service } }]));
  renameSync(`${file}.tmp`, file);
  return () => rmSync(file, { force: true });
}

/**
 * An instant query against PROMETHEUS_URL: the samples, or an error carrying Prometheus' own
 * reason (a query that does not parse is refused with `bad_data` and says where).
 */
export async function promQuery(expr: string): Promise<PromSample[]> {
  const url = process.env.PROMETHEUS_URL;
  if (!url)
    throw new Error('PROMETHEUS_URL is not set: bring Prometheus up with infra/up.sh (or infra/prometheus.sh up)');
  const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as {
    status: string;
    errorType?: string;
    error?: string;
    data?: { resultType: string; result: PromSample[] };
  };
  if (body.status !== 'success') throw new Error(`${body.errorType}: ${body.error}`);
  return body.data!.result;
}

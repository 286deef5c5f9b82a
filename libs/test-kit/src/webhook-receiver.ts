import { createServer, type Server } from 'node:http';

/** Alertmanager's webhook body (version 4), the fields tests read. */
export interface WebhookBody {
  version: string;
  status: string;
  receiver: string;
  groupKey: string;
  groupLabels: Record<string, string>;
  alerts: Array<{
    status: string;
    labels: Record<string, string>;
    fingerprint: string;
    startsAt: string;
    endsAt: string;
  }>;
}

/** A webhook receiver on a fixed port that records what it gets, and can go down and come back. */
export class WebhookReceiver {
  /** What arrived: the idempotency key, the body, when, and the W3C traceparent it came in (if any). */
  readonly got: Array<{ key: string; body: WebhookBody; at: number; traceparent?: string }> = [];
  private server?: Server;

  /** `delayMs`: how long it takes to answer each request (a slow receiver). */
  constructor(
    readonly port: number,
    private readonly delayMs = 0,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  async up(): Promise<void> {
    this.server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        this.got.push({
          key: String(req.headers['idempotency-key']),
          body: JSON.parse(body) as WebhookBody,
          at: Date.now(),
          traceparent: req.headers.traceparent as string | undefined,
        });
        setTimeout(() => res.writeHead(200).end(), this.delayMs);
      });
    });
    await new Promise<void>((r) => this.server!.listen(this.port, '127.0.0.1', r));
  }

  /** Stops listening: connections are refused until `up()`. */
  async down(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((r) => (this.server ? this.server.close(r) : r(undefined)));
    this.server = undefined;
  }

  /** Notifications carrying an alert about one agent, in arrival order (a retry after a lost answer repeats its key). */
  of(agentId: string) {
    return this.got.filter((g) => g.body.alerts.some((a) => a.labels.agent === agentId));
  }

  /** Distinct notifications about one agent, by idempotency key. */
  distinct(agentId: string) {
    const seen = new Set<string>();
    return this.of(agentId).filter((g) => !seen.has(g.key) && seen.add(g.key));
  }
}

/** A service answered with an error, or did not answer; the message says which and why. */
export class ServiceError extends Error {
  constructor(
    readonly service: string,
    /** The HTTP status; 0 when the service did not answer. */
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface Call {
  method?: 'GET' | 'POST' | 'DELETE';
  body?: unknown;
  /** Statuses that are an answer, not a failure (e.g. 503 from a readiness probe). */
  accept?: number[];
}

/** One JSON request to a service; Nest's error body (`message`) becomes the error's text. */
export async function callService<T>(service: string, base: string, path: string, call: Call = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${base}${path}`, {
      method: call.method ?? 'GET',
      headers: call.body === undefined ? {} : { 'content-type': 'application/json' },
      body: call.body === undefined ? undefined : JSON.stringify(call.body),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code ?? (e as Error).message;
    throw new ServiceError(service, 0, `${service} does not answer at ${base} (${cause}): is Vigil running?`);
  }
  const text = await res.text();
  const body = text ? (safeJson(text) ?? text) : null;
  if (!res.ok && !call.accept?.includes(res.status)) {
    const said = typeof body === 'object' && body && 'message' in body ? String(body.message) : String(body);
    throw new ServiceError(service, res.status, `${service}: ${said} (HTTP ${res.status})`);
  }
  return body as T;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

import autocannon from 'autocannon';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { INestApplication } from '@nestjs/common';

/**
 * Bounded HTTP load for the fault suite: autocannon for a few seconds with a few connections, every answer
 * classified as it arrives. An answer is "declared" when it is one the contract promises: 2xx, 401 with a code
 * of the closed set, 429 `rate_limited` with Retry-After, 503 `defense_store_unavailable` with Retry-After.
 */
export interface LoadRequest {
  method?: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface LoadTally {
  /** Answers by status. */
  byStatus: Record<number, number>;
  /** Error answers by `code`. */
  byCode: Record<string, number>;
  /** A few answers that are not declared ones (status, code, Retry-After), for the failure message. */
  undeclared: string[];
  undeclaredCount: number;
  total: number;
  /** Requests without an answer within `timeoutSec` (autocannon's timeouts) and connection errors. */
  timeouts: number;
  errors: number;
  /** The slowest answer, ms (autocannon's latency max). */
  latencyMaxMs: number;
}

const DECLARED_401 = new Set(['token_missing', 'token_malformed', 'token_expired', 'token_not_yet_valid', 'token_revoked', 'signature_invalid', 'claim_invalid']);

function header(headers: Record<string, unknown> | undefined, name: string): unknown {
  if (!headers) return undefined;
  const key = Object.keys(headers).find((candidate) => candidate.toLowerCase() === name);
  return key === undefined ? undefined : headers[key];
}

/** Whether one answer is a declared one (see {@link LoadTally}). */
export function isDeclared(status: number, code: string | undefined, retryAfter: unknown): boolean {
  if (status >= 200 && status < 300) return true;
  if (status === 401) return code !== undefined && DECLARED_401.has(code);
  if (status === 429) return code === 'rate_limited' && retryAfter !== undefined;
  if (status === 503) return code === 'defense_store_unavailable' && retryAfter !== undefined;
  return false;
}

/** Runs `requests` in a loop over `connections` for `durationSec`; each request gives up after `timeoutSec`. */
export async function boundedLoad(
  url: string,
  requests: LoadRequest[],
  options: { durationSec: number; connections: number; timeoutSec: number },
): Promise<LoadTally> {
  const tally: LoadTally = { byStatus: {}, byCode: {}, undeclared: [], undeclaredCount: 0, total: 0, timeouts: 0, errors: 0, latencyMaxMs: 0 };
  const record = (status: number, body: string, headers: Record<string, unknown> | undefined) => {
    tally.total++;
    tally.byStatus[status] = (tally.byStatus[status] ?? 0) + 1;
    let code: string | undefined;
    if (status >= 400) {
      try {
        code = (JSON.parse(body) as { code?: string }).code;
      } catch {
        code = undefined;
      }
      const name = code ?? '(none)';
      tally.byCode[name] = (tally.byCode[name] ?? 0) + 1;
    }
    const retryAfter = header(headers, 'retry-after');
    if (!isDeclared(status, code, retryAfter)) {
      tally.undeclaredCount++;
      if (tally.undeclared.length < 5) tally.undeclared.push(`${status} ${code ?? '(no code)'} retry-after=${String(retryAfter)}`);
    }
  };
  const result = await autocannon({
    url,
    connections: options.connections,
    duration: options.durationSec,
    timeout: options.timeoutSec,
    requests: requests.map((request) => ({
      method: request.method ?? 'GET',
      path: request.path,
      headers: { 'content-type': 'application/json', ...request.headers },
      ...(request.body !== undefined ? { body: request.body } : {}),
      onResponse: (status: number, body: string, _context: object, headers?: Record<string, unknown>) => record(status, body, headers),
    })),
  });
  tally.timeouts = result.timeouts;
  tally.errors = result.errors - result.timeouts;
  tally.latencyMaxMs = result.latency.max;
  return tally;
}

/** Makes a Nest app listen on a free loopback port; returns its base URL (for autocannon). */
export async function listen(app: INestApplication): Promise<string> {
  await app.listen(0, '127.0.0.1');
  const address = app.getHttpServer().address() as { port: number };
  return `http://127.0.0.1:${address.port}`;
}

/** Polls `condition` every `intervalMs` until it holds; throws `message` after `timeoutMs`. */
export async function pollUntil(condition: () => Promise<boolean> | boolean, timeoutMs: number, message: string, intervalMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let met = false;
    try {
      met = await condition();
    } catch {
      met = false;
    }
    if (met) return;
    if (Date.now() > deadline) throw new Error(message);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/**
 * Heap bytes still reachable after a full collection: what the process keeps, not the garbage a load left behind
 * (heapUsed without a collection swings by 100+ MiB with when V8 last ran, which made "memory flat" flaky).
 */
export function retainedHeapBytes(): number {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
  return process.memoryUsage().heapUsed;
}

// The soak's traffic: one autocannon instance per class of request, all at once against one demo, each with the set
// of answers its class may get. Anything else (another status or code, a 5xx, a connection error, a timeout) is an
// unexpected error.
import autocannon from 'autocannon';

/** One kind of request the soak sends, and the answers it may get. */
export interface TrafficClass {
  /** Short name, e.g. `valid`. */
  name: string;
  /** What the class does, for the report. */
  description: string;
  method: 'GET' | 'POST';
  path: string;
  /** Requests per second (autocannon `overallRate`). */
  rate: number;
  /** Connections (enough for the rate at a few ms each). */
  connections: number;
  /**
   * The answers this class may get, as `"<status>"` or `"<status> <code>"` (the `code` of the JSON error body).
   * An answer outside this set is an unexpected error.
   */
  expected: readonly string[];
  /**
   * Answers of which at least one must be seen, or the class did not do what it says (e.g. a throttled class that
   * was never throttled). Default: none required.
   */
  mustSee?: readonly string[];
  /** Sets the request's headers and body, just before it is sent. */
  prepare(): { headers: Record<string, string>; body?: string; context?: unknown };
  /** Called with each answer (after the tally): e.g. the DPoP class hands used proofs to the replay class. */
  onAnswer?(answer: string, context: unknown): void;
}

/** What one class got over the run. */
export interface ClassResult {
  name: string;
  description: string;
  endpoint: string;
  expected: string[];
  /** Answers counted by `"<status> <code>"` (or `"<status>"` when the body has no `code`). */
  answers: Record<string, number>;
  requests: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Answers outside `expected` (5xx included). */
  unexpectedAnswers: number;
  /** Connection errors and timeouts, as autocannon counts them. */
  errors: number;
  timeouts: number;
  /** `mustSee` answers that never came. */
  missing: string[];
}

/** A few unexpected answers, kept for the report (the first of each kind). */
export interface UnexpectedSample {
  class: string;
  answer: string;
  /** The start of the body (never the request: it holds tokens). */
  body: string;
}

function answerOf(status: number, body: string): string {
  if (body.startsWith('{')) {
    try {
      const code = (JSON.parse(body) as { code?: unknown }).code;
      if (typeof code === 'string') return `${status} ${code}`;
    } catch {
      // not JSON: the status alone
    }
  }
  return String(status);
}

/**
 * Runs every class at once for `durationSec` against `url` and tallies the answers per class. `timeoutSec` bounds
 * each request (a request over it counts as a timeout).
 */
export async function runTraffic(url: string, classes: TrafficClass[], durationSec: number, timeoutSec = 10): Promise<{ results: ClassResult[]; samples: UnexpectedSample[] }> {
  const samples: UnexpectedSample[] = [];
  const runs = classes.map(async (traffic): Promise<ClassResult> => {
    const answers: Record<string, number> = {};
    let unexpectedAnswers = 0;
    const expected = new Set(traffic.expected);
    // One request in flight per connection (no pipelining), so the connection's context says what was sent.
    const result = await autocannon({
      url,
      connections: traffic.connections,
      overallRate: traffic.rate,
      duration: durationSec,
      timeout: timeoutSec,
      requests: [
        {
          method: traffic.method,
          path: traffic.path,
          setupRequest: (request: autocannon.Request, context: object) => {
            const { headers, body, context: sent } = traffic.prepare();
            (context as { sent?: unknown }).sent = sent;
            return { ...request, headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body } as autocannon.Request;
          },
          onResponse: (status: number, body: string, context: object) => {
            const answer = answerOf(status, body);
            answers[answer] = (answers[answer] ?? 0) + 1;
            if (!expected.has(answer) && !expected.has(String(status))) {
              unexpectedAnswers++;
              if (!samples.some((sample) => sample.class === traffic.name && sample.answer === answer)) {
                samples.push({ class: traffic.name, answer, body: body.slice(0, 200) });
              }
            }
            traffic.onAnswer?.(answer, (context as { sent?: unknown }).sent);
          },
        },
      ],
    });
    const requests = Object.values(answers).reduce((sum, count) => sum + count, 0);
    return {
      name: traffic.name,
      description: traffic.description,
      endpoint: `${traffic.method} ${traffic.path}`,
      expected: [...traffic.expected],
      answers,
      requests,
      reqPerSec: Math.round((requests / durationSec) * 10) / 10,
      p50Ms: result.latency.p50,
      p99Ms: result.latency.p99,
      maxMs: result.latency.max,
      unexpectedAnswers,
      errors: result.errors,
      timeouts: result.timeouts,
      missing: (traffic.mustSee ?? []).filter((answer) => !answers[answer]),
    };
  });
  return { results: await Promise.all(runs), samples };
}

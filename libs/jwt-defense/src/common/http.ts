import type { IncomingMessage, ServerResponse } from 'node:http';

/** Express hands Node's objects through; Fastify wraps them and exposes them as `.raw`. */
export function rawRequest(request: unknown): IncomingMessage {
  const candidate = request as { raw?: IncomingMessage } & IncomingMessage;
  return candidate.raw ?? candidate;
}

export function rawResponse(response: unknown): ServerResponse {
  const candidate = response as { raw?: ServerResponse } & ServerResponse;
  return candidate.raw ?? candidate;
}

/**
 * Sets a header on an Express response, a Fastify reply or a raw `ServerResponse`. On Fastify the reply's
 * own header map wins over raw headers when it sends, so use it when there is one.
 */
export function setResponseHeader(response: unknown, name: string, value: string): void {
  const reply = response as { raw?: ServerResponse; header?: (n: string, v: string) => unknown };
  if (reply.raw !== undefined && typeof reply.header === 'function') {
    reply.header(name, value);
  } else {
    (response as ServerResponse).setHeader(name, value);
  }
}

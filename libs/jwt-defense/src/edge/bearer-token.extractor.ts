import type { IncomingMessage } from 'node:http';
import { InvalidRequestException, InvalidTokenException } from '../errors/defense.exceptions.js';

// RFC 6750 §2.1: "Bearer" 1*SP b64token, with the scheme case-insensitive. We accept exactly one space.
const BEARER = /^bearer ([A-Za-z0-9\-._~+/]+=*)$/i;
const BEARER_SCHEME = /^bearer(\s|$)/i;

function hasAccessTokenQueryParam(url: string): boolean {
  const query = url.indexOf('?');
  if (query < 0) return false;
  const search = url.slice(query + 1);
  // Cheap test first; URLSearchParams also catches percent-encoded spellings (access%5Ftoken).
  return (search.includes('access') || search.includes('%')) && new URLSearchParams(search).has('access_token');
}

function countAuthorizationHeaders(rawHeaders: string[]): number {
  let count = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    if (name.length === 13 && name.toLowerCase() === 'authorization') count++;
  }
  return count;
}

/**
 * Reads the bearer token from the `Authorization` header of a raw Node request, strictly:
 * - more than one `Authorization` header, or an `access_token` query parameter (tokens in URLs end up
 *   in logs and Referer headers; RFC 9700 §2.4) → 400 `invalid_request`;
 * - no header, or another scheme → `undefined` (the caller answers 401 `token_missing`);
 * - a `Bearer` header that is not exactly `Bearer <b64token>` → 401 `token_malformed`.
 */
export function extractBearerToken(request: IncomingMessage): string | undefined {
  // Node keeps only the first of duplicate Authorization headers in `headers`: count them in rawHeaders.
  const header = request.headers.authorization;
  if (header !== undefined && countAuthorizationHeaders(request.rawHeaders) > 1) throw new InvalidRequestException();
  if (request.url !== undefined && hasAccessTokenQueryParam(request.url)) throw new InvalidRequestException();
  if (header === undefined || !BEARER_SCHEME.test(header)) return undefined;
  const match = BEARER.exec(header);
  if (!match) throw new InvalidTokenException('token_malformed');
  return match[1];
}

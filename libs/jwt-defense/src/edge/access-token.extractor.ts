import type { IncomingMessage } from 'node:http';
import { InvalidRequestException, InvalidTokenException } from '../errors/defense.exceptions.js';

// RFC 6750 §2.1 and RFC 9449 §7.1: "Bearer" or "DPoP", 1*SP, b64token, the scheme case-insensitive. We accept
// exactly one space.
const CREDENTIALS = /^(bearer|dpop) ([A-Za-z0-9\-._~+/]+=*)$/i;
const SCHEME = /^(bearer|dpop)(\s|$)/i;

/** An access token as presented: its scheme (`DPoP` for a sender-constrained one) and the token. */
export interface PresentedToken {
  readonly scheme: 'Bearer' | 'DPoP';
  readonly token: string;
}

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
 * Reads the access token from the `Authorization` header of a raw Node request, strictly:
 * - more than one `Authorization` header, or an `access_token` query parameter (tokens in URLs end up
 *   in logs and Referer headers; RFC 9700 §2.4) → 400 `invalid_request`;
 * - no header, or another scheme → `undefined` (the caller answers 401 `token_missing`);
 * - a `Bearer` or `DPoP` header that is not exactly `<scheme> <b64token>` → 401 `token_malformed`.
 */
export function extractAccessToken(request: IncomingMessage): PresentedToken | undefined {
  // Node keeps only the first of duplicate Authorization headers in `headers`: count them in rawHeaders.
  const header = request.headers.authorization;
  if (header !== undefined && countAuthorizationHeaders(request.rawHeaders) > 1) throw new InvalidRequestException();
  if (request.url !== undefined && hasAccessTokenQueryParam(request.url)) throw new InvalidRequestException();
  if (header === undefined || !SCHEME.test(header)) return undefined;
  const match = CREDENTIALS.exec(header);
  if (!match) throw new InvalidTokenException('token_malformed');
  return { scheme: match[1].length === 4 ? 'DPoP' : 'Bearer', token: match[2] };
}

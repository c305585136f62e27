import { KID_PATTERN } from '../jwt-defense.constants.js';
import { TokenVerificationError } from '../errors/defense.exceptions.js';
import type { TokenErrorCode } from '../errors/defense-error-code.js';
import { hasDuplicateJsonKeys } from './json-duplicate-keys.js';

/** A JOSE header as it arrives: only `alg` is guaranteed after the pre-filter (and `kid` for our own tokens). */
export interface JoseHeader {
  alg: string;
  kid: string;
  typ?: string;
  [name: string]: unknown;
}

/** A compact JWS that passed the pre-filter; its signature is NOT verified yet. */
export interface PrefilteredJws {
  readonly token: string;
  readonly header: JoseHeader;
  readonly payload: Record<string, unknown>;
  /** `BASE64URL(header) || '.' || BASE64URL(payload)`: the bytes the signature covers. */
  readonly signingInput: string;
  readonly signature: Buffer;
}

/** What the header of a token from one issuer may say (our own tokens, or an external issuer's profile). */
export interface HeaderProfile {
  /** Accepted `typ` values, lower case without `application/`; `null` accepts a token without `typ`. */
  readonly types: ReadonlyArray<string | null>;
  /** Algorithms some key of this issuer accepts. */
  readonly allowedAlgorithms: ReadonlySet<string>;
  /** What a `kid` must look like (it is only ever matched against the issuer's keys, never used in a path). */
  readonly kidPattern: RegExp;
  /** Whether a token without `kid` is accepted (an issuer with a single key). */
  readonly kidOptional?: boolean;
  /** Header parameters accepted as information only, never a key source (Entra's `x5t`). */
  readonly informational?: readonly string[];
}

export interface PrefilterOptions {
  /** Largest accepted compact token, in bytes. */
  maxTokenBytes: number;
  /** Expected `typ` header (compared case-insensitively, with or without `application/`). */
  tokenType: string;
  /** Every algorithm some key of the ring accepts. */
  allowedAlgorithms: ReadonlySet<string>;
}

/**
 * Header parameters we refuse outright: they ask the verifier to fetch or trust a key named by the
 * token itself (`jku`, `x5u`, `jwk`, `x5c`), or to apply extensions we do not implement (`crit`, `b64`, `zip`,
 * `enc`). `x5t` and `x5t#S256` are refused too unless an issuer's profile accepts them as information.
 */
const REFUSED_HEADER_PARAMS = ['jku', 'x5u', 'jwk', 'x5c', 'x5t', 'x5t#S256', 'crit', 'b64', 'zip', 'enc'];

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/** Strict UTF-8 (RFC 8259 §8.1, RFC 7515 §5.2): overlong forms, lone bytes and surrogates are refused, not replaced. */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function fail(code: TokenErrorCode, reason: string): never {
  throw new TokenVerificationError(code, { reason });
}

/** Decodes one base64url segment, refusing anything but its single canonical encoding. */
function decodeSegment(segment: string): Buffer {
  if (!BASE64URL.test(segment) || segment.length % 4 === 1) fail('token_malformed', 'base64url');
  const bytes = Buffer.from(segment, 'base64url');
  // Non-canonical encodings (non-zero trailing bits) decode to the same bytes as another string:
  // refuse them so one token has exactly one spelling (no cache or denylist bypass by re-encoding).
  if (bytes.toString('base64url') !== segment) fail('token_malformed', 'base64url');
  return bytes;
}

function decodeJsonObject(segment: string): Record<string, unknown> {
  if (segment.length === 0) fail('token_malformed', 'empty_segment');
  let text: string;
  try {
    text = UTF8.decode(decodeSegment(segment));
  } catch (error) {
    if (error instanceof TokenVerificationError) throw error;
    fail('token_malformed', 'utf8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    fail('token_malformed', 'json');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail('token_malformed', 'json');
  if (hasDuplicateJsonKeys(text)) fail('token_malformed', 'duplicate_member');
  return value as Record<string, unknown>;
}

function normalizedType(typ: unknown): string | null | undefined {
  if (typ === undefined) return null;
  if (typeof typ !== 'string') return undefined;
  const lower = typ.toLowerCase();
  return lower.startsWith('application/') ? lower.slice(12) : lower;
}

/**
 * Layer 7, structure: a compact JWS (three canonical base64url segments, a JSON-object header and payload in
 * strict UTF-8 without duplicate member names). A JWE (five segments) is refused. No
 * crypto, no I/O. Throws {@link TokenVerificationError} with a stable code and a finer `reason`.
 */
export function parseCompactJws(token: string, maxTokenBytes: number): PrefilteredJws {
  if (typeof token !== 'string' || token.length === 0) fail('token_malformed', 'empty');
  if (token.length > maxTokenBytes) fail('token_malformed', 'oversized');
  const firstDot = token.indexOf('.');
  const secondDot = token.indexOf('.', firstDot + 1);
  if (firstDot < 0 || secondDot < 0) fail('token_malformed', 'segments');
  const thirdDot = token.indexOf('.', secondDot + 1);
  if (thirdDot >= 0) fail('token_malformed', token.split('.').length === 5 ? 'jwe' : 'segments');
  const header = decodeJsonObject(token.slice(0, firstDot));
  const payload = decodeJsonObject(token.slice(firstDot + 1, secondDot));
  // An empty signature is refused by checkJoseHeader's caller after the header (so `alg: none` reads as such).
  return { token, header: header as JoseHeader, payload, signingInput: token.slice(0, secondDot), signature: decodeSegment(token.slice(secondDot + 1)) };
}

/** Layer 7, header: `alg` on the issuer's allow-list (never `none`), no refused parameter, `kid` and `typ` as the profile says. */
export function checkJoseHeader(header: Record<string, unknown>, profile: HeaderProfile): void {
  const alg = header.alg;
  if (typeof alg !== 'string') fail('token_malformed', 'alg_missing');
  if (!profile.allowedAlgorithms.has(alg)) fail('algorithm_not_allowed', alg.toLowerCase() === 'none' ? 'alg_none' : 'alg_not_allowed');
  for (const name of REFUSED_HEADER_PARAMS) {
    if (name in header && !profile.informational?.includes(name)) fail('token_malformed', `header_${name}`);
  }
  const kid = header.kid;
  if (kid === undefined ? !profile.kidOptional : typeof kid !== 'string' || !profile.kidPattern.test(kid)) fail('token_malformed', 'kid');
  const typ = normalizedType(header.typ);
  if (typ === undefined || !profile.types.includes(typ)) fail('claim_invalid', 'typ');
}

/** The last structural check, after the header: a signature is there. */
export function requireSignature(jws: PrefilteredJws): void {
  if (jws.signature.length === 0) fail('signature_invalid', 'signature_missing');
}

/**
 * Layer 7 pre-filter for this module's own tokens: cheap structural checks that refuse hostile tokens before
 * any crypto or store call. Throws {@link TokenVerificationError} with a stable code.
 */
export function prefilterCompactJws(token: string, options: PrefilterOptions): PrefilteredJws {
  const jws = parseCompactJws(token, options.maxTokenBytes);
  checkJoseHeader(jws.header, { types: [options.tokenType.toLowerCase()], allowedAlgorithms: options.allowedAlgorithms, kidPattern: KID_PATTERN });
  requireSignature(jws);
  return jws;
}

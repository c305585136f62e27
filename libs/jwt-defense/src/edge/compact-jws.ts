import { KID_PATTERN } from '../jwt-defense.constants.js';
import { TokenVerificationError } from '../errors/defense.exceptions.js';
import type { TokenErrorCode } from '../errors/defense-error-code.js';
import { hasDuplicateJsonKeys } from './json-duplicate-keys.js';

/** A JOSE header as it arrives: only `alg` and `kid` are guaranteed after the pre-filter. */
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
 * token itself (`jku`, `x5u`, `jwk`, `x5c`), or to apply extensions we do not implement (`crit`, `b64`).
 */
const REFUSED_HEADER_PARAMS = ['jku', 'x5u', 'jwk', 'x5c', 'x5t', 'x5t#S256', 'crit', 'b64', 'zip', 'enc'];

const BASE64URL = /^[A-Za-z0-9_-]*$/;

function fail(code: TokenErrorCode): never {
  throw new TokenVerificationError(code);
}

/** Decodes one base64url segment, refusing anything but its single canonical encoding. */
function decodeSegment(segment: string): Buffer {
  if (!BASE64URL.test(segment) || segment.length % 4 === 1) fail('token_malformed');
  const bytes = Buffer.from(segment, 'base64url');
  // Non-canonical encodings (non-zero trailing bits) decode to the same bytes as another string:
  // refuse them so one token has exactly one spelling (no cache or denylist bypass by re-encoding).
  if (bytes.toString('base64url') !== segment) fail('token_malformed');
  return bytes;
}

/**
 * Strict UTF-8 (RFC 8259 §8.1, RFC 7515 §5.2): overlong forms (`C0 AF`), lone bytes (`FF`) and UTF-16 surrogates
 * (`ED A0 80`) are refused, not replaced by U+FFFD (a lossy decode would let two byte strings mean one claim).
 */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeJsonObject(segment: string): Record<string, unknown> {
  if (segment.length === 0) fail('token_malformed');
  let text: string;
  let value: unknown;
  try {
    text = UTF8.decode(decodeSegment(segment));
    value = JSON.parse(text);
  } catch (error) {
    if (error instanceof TokenVerificationError) throw error;
    fail('token_malformed');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) fail('token_malformed');
  if (hasDuplicateJsonKeys(text)) fail('token_malformed');
  return value as Record<string, unknown>;
}

function isExpectedType(typ: unknown, expected: string): boolean {
  if (typeof typ !== 'string') return false;
  const lower = typ.toLowerCase();
  return lower === expected || lower === `application/${expected}`;
}

/**
 * Layer 7 pre-filter: cheap structural checks that refuse hostile tokens before any crypto or store
 * call. Throws {@link TokenVerificationError} with a stable code.
 */
export function prefilterCompactJws(token: string, options: PrefilterOptions): PrefilteredJws {
  if (typeof token !== 'string' || token.length === 0 || token.length > options.maxTokenBytes) {
    fail('token_malformed');
  }
  const firstDot = token.indexOf('.');
  const secondDot = token.indexOf('.', firstDot + 1);
  if (firstDot < 0 || secondDot < 0 || token.indexOf('.', secondDot + 1) >= 0) fail('token_malformed');

  const header = decodeJsonObject(token.slice(0, firstDot));
  const alg = header.alg;
  if (typeof alg !== 'string') fail('token_malformed');
  if (!options.allowedAlgorithms.has(alg)) fail('algorithm_not_allowed');
  for (const name of REFUSED_HEADER_PARAMS) {
    if (name in header) fail('token_malformed');
  }
  const kid = header.kid;
  if (typeof kid !== 'string' || !KID_PATTERN.test(kid)) fail('token_malformed');
  if (!isExpectedType(header.typ, options.tokenType)) fail('claim_invalid');

  const payload = decodeJsonObject(token.slice(firstDot + 1, secondDot));
  const signatureSegment = token.slice(secondDot + 1);
  if (signatureSegment.length === 0) fail('signature_invalid');
  const signature = decodeSegment(signatureSegment);

  return {
    token,
    header: header as JoseHeader,
    payload,
    signingInput: token.slice(0, secondDot),
    signature,
  };
}

import { TokenVerificationError } from '../errors/defense.exceptions.js';
import type { TokenErrorCode } from '../errors/defense-error-code.js';

/** The authenticated caller, put on the request by `JwtDefenseGuard` (read it with `@CurrentPrincipal()`). */
export interface AccessTokenPrincipal {
  readonly sub: string;
  /** The token's `iss`: this module's issuer, or an external issuer's. */
  readonly issuer: string;
  /** The token's id. Always present on this module's tokens; optional on an external issuer's (per its profile). */
  readonly jti?: string;
  /** Issued at, epoch seconds. */
  readonly iat: number;
  /** Expires at, epoch seconds. */
  readonly exp: number;
  readonly roles: readonly string[];
  /** From the space-separated `scope` claim (RFC 9068 §2.2.3), or `scp`. */
  readonly scopes: readonly string[];
  /** Session (refresh-token family) the token belongs to, from the `sid` claim. */
  readonly sid?: string;
  /** When the user authenticated (the session's login), epoch seconds, from `auth_time` (OpenID Connect). */
  readonly authTime?: number;
  /** RFC 7638 thumbprint of the key the token is bound to (`cnf.jkt`, DPoP, RFC 9449), when it is bound. */
  readonly jkt?: string;
  /** `kid` of the key that signed the token (empty when the issuer's token had none). */
  readonly kid: string;
  /** Every claim of the token, as verified. */
  readonly claims: Readonly<Record<string, unknown>>;
}

/** Where a token's roles come from: a claim name (looked up exactly, then as a dot path), or a function. */
export type RolesMapping = string | ((claims: Readonly<Record<string, unknown>>) => readonly string[] | undefined);

export interface ClaimRules {
  issuer: string;
  audiences: readonly string[];
  nowSec: number;
  clockToleranceSec: number;
  maxLifetimeSec: number;
  /** The claim that holds the audience (`aud`; Cognito access tokens: `client_id`). Default `aud`. */
  audienceClaim?: string;
  /** Whether `jti` is required. Default true (this module's tokens). */
  requireJti?: boolean;
  /** Where roles come from; default the `roles` claim only (this module's tokens). */
  roles?: RolesMapping;
  /** Whether an absent `roles` falls back to the scopes (`scope`/`scp`), as for external issuers. */
  rolesFromScopes?: boolean;
}

const MAX_ID_LENGTH = 255;

function fail(code: TokenErrorCode, reason?: string): never {
  throw new TokenVerificationError(code, { reason });
}

function isNumericDate(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}

function isId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_ID_LENGTH;
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const member of Object.values(value)) deepFreeze(member);
  }
  return value;
}

/** A claim by its exact name first (`https://example.com/roles`, `cognito:groups`), then as a dot path (`realm_access.roles`). */
export function claimAt(claims: Readonly<Record<string, unknown>>, name: string): unknown {
  if (Object.prototype.hasOwnProperty.call(claims, name)) return claims[name];
  let value: unknown = claims;
  for (const part of name.split('.')) {
    if (value === null || typeof value !== 'object' || Array.isArray(value) || !Object.prototype.hasOwnProperty.call(value, part)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  return value;
}

function scopesOf(payload: Record<string, unknown>): string[] {
  const { scope, scp } = payload;
  if (scope !== undefined) {
    if (typeof scope !== 'string') fail('claim_invalid', 'scope');
    return scope.split(' ').filter(Boolean);
  }
  if (scp !== undefined) {
    if (typeof scp === 'string') return scp.split(' ').filter(Boolean);
    if (!isStringArray(scp)) fail('claim_invalid', 'scp');
    return scp;
  }
  return [];
}

function rolesOf(payload: Record<string, unknown>, rules: ClaimRules, scopes: string[]): readonly string[] {
  const mapping = rules.roles ?? 'roles';
  const value = typeof mapping === 'function' ? mapping(payload) : claimAt(payload, mapping);
  if (value === undefined) return rules.rolesFromScopes ? scopes : [];
  if (typeof value === 'string' && typeof mapping !== 'function' && rules.rolesFromScopes) return value.split(' ').filter(Boolean);
  if (!isStringArray(value)) fail('claim_invalid', 'roles');
  return value;
}

/**
 * Checks the registered claims of an access token whose signature is already verified: JSON types
 * first (a claim of the wrong type is `claim_invalid`, never a crash), then issuer and audience, then time.
 */
export function validateAccessTokenClaims(payload: Record<string, unknown>, kid: string, rules: ClaimRules): AccessTokenPrincipal {
  const { iss, sub, jti, iat, exp, nbf, sid, auth_time: authTime, cnf } = payload;
  const aud = payload[rules.audienceClaim ?? 'aud'];
  if (!isId(sub) || typeof iss !== 'string') fail('claim_invalid', 'sub');
  if (jti !== undefined ? !isId(jti) : rules.requireJti !== false) fail('claim_invalid', 'jti');
  if (!isNumericDate(iat) || !isNumericDate(exp) || (nbf !== undefined && !isNumericDate(nbf))) fail('claim_invalid', 'time');
  if (!(typeof aud === 'string' || (isStringArray(aud) && aud.length > 0))) fail('claim_invalid', 'aud');
  if (sid !== undefined && !isId(sid)) fail('claim_invalid', 'sid');
  if (authTime !== undefined && !isNumericDate(authTime)) fail('claim_invalid', 'auth_time');
  let jkt: string | undefined;
  if (cnf !== undefined) {
    const thumbprint = cnf !== null && typeof cnf === 'object' ? (cnf as Record<string, unknown>).jkt : undefined;
    if (typeof thumbprint !== 'string' || !/^[A-Za-z0-9_-]{43}$/.test(thumbprint)) fail('claim_invalid', 'cnf');
    jkt = thumbprint;
  }
  const scopes = scopesOf(payload);
  const roles = rolesOf(payload, rules, scopes);

  if (iss !== rules.issuer) fail('claim_invalid', 'iss');
  const audiences = typeof aud === 'string' ? [aud] : aud;
  if (!audiences.some((value) => rules.audiences.includes(value))) fail('claim_invalid', 'aud');

  if (exp <= iat || exp - iat > rules.maxLifetimeSec) fail('claim_invalid', 'lifetime');
  const { nowSec, clockToleranceSec } = rules;
  if (nowSec >= exp + clockToleranceSec) fail('token_expired');
  if (nbf !== undefined && nbf > nowSec + clockToleranceSec) fail('token_not_yet_valid');
  if (iat > nowSec + clockToleranceSec) fail('token_not_yet_valid');
  // A login cannot come after the token it produced.
  if (authTime !== undefined && authTime > iat) fail('claim_invalid', 'auth_time');

  // Frozen, claims included: cached principals are shared by every request that presents the same token.
  return Object.freeze({
    sub,
    issuer: iss,
    jti: jti as string | undefined,
    iat,
    exp,
    roles: Object.freeze([...roles]),
    scopes: Object.freeze(scopes),
    sid,
    authTime,
    jkt,
    kid,
    claims: deepFreeze(payload),
  });
}

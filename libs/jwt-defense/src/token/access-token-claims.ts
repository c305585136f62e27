import { TokenVerificationError } from '../errors/defense.exceptions.js';
import type { TokenErrorCode } from '../errors/defense-error-code.js';

/** The authenticated caller, put on the request by `JwtDefenseGuard` (read it with `@CurrentPrincipal()`). */
export interface AccessTokenPrincipal {
  readonly sub: string;
  readonly jti: string;
  /** Issued at, epoch seconds. */
  readonly iat: number;
  /** Expires at, epoch seconds. */
  readonly exp: number;
  readonly roles: readonly string[];
  /** From the space-separated `scope` claim (RFC 9068 §2.2.3). */
  readonly scopes: readonly string[];
  /** Session (refresh-token family) the token belongs to, from the `sid` claim. */
  readonly sid?: string;
  /** When the user authenticated (the session's login), epoch seconds, from `auth_time` (OpenID Connect). */
  readonly authTime?: number;
  /** `kid` of the key that signed the token. */
  readonly kid: string;
  /** Every claim of the token, as verified. */
  readonly claims: Readonly<Record<string, unknown>>;
}

export interface ClaimRules {
  issuer: string;
  audiences: readonly string[];
  nowSec: number;
  clockToleranceSec: number;
  maxLifetimeSec: number;
}

const MAX_ID_LENGTH = 255;

function fail(code: TokenErrorCode): never {
  throw new TokenVerificationError(code);
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

/**
 * Checks the registered claims of an access token whose signature is already verified: JSON types
 * first (a claim of the wrong type is `claim_invalid`, never a crash), then issuer and audience, then time.
 */
export function validateAccessTokenClaims(
  payload: Record<string, unknown>,
  kid: string,
  rules: ClaimRules,
): AccessTokenPrincipal {
  const { iss, aud, sub, jti, iat, exp, nbf, roles, scope, sid, auth_time: authTime } = payload;
  if (!isId(sub) || !isId(jti) || typeof iss !== 'string') fail('claim_invalid');
  if (!isNumericDate(iat) || !isNumericDate(exp) || (nbf !== undefined && !isNumericDate(nbf))) fail('claim_invalid');
  if (!(typeof aud === 'string' || (isStringArray(aud) && aud.length > 0))) fail('claim_invalid');
  if (roles !== undefined && !isStringArray(roles)) fail('claim_invalid');
  if (scope !== undefined && typeof scope !== 'string') fail('claim_invalid');
  if (sid !== undefined && !isId(sid)) fail('claim_invalid');
  if (authTime !== undefined && !isNumericDate(authTime)) fail('claim_invalid');

  if (iss !== rules.issuer) fail('claim_invalid');
  const audiences = typeof aud === 'string' ? [aud] : aud;
  if (!audiences.some((value) => rules.audiences.includes(value))) fail('claim_invalid');

  if (exp <= iat || exp - iat > rules.maxLifetimeSec) fail('claim_invalid');
  const { nowSec, clockToleranceSec } = rules;
  if (nowSec >= exp + clockToleranceSec) fail('token_expired');
  if (nbf !== undefined && nbf > nowSec + clockToleranceSec) fail('token_not_yet_valid');
  if (iat > nowSec + clockToleranceSec) fail('token_not_yet_valid');
  // A login cannot come after the token it produced.
  if (authTime !== undefined && authTime > iat) fail('claim_invalid');

  // Frozen, claims included: cached principals are shared by every request that presents the same token.
  return Object.freeze({
    sub,
    jti,
    iat,
    exp,
    roles: Object.freeze([...(roles ?? [])]),
    scopes: Object.freeze(scope ? scope.split(' ').filter(Boolean) : []),
    sid,
    authTime,
    kid,
    claims: deepFreeze(payload),
  });
}

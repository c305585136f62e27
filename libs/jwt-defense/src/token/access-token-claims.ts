import { TokenVerificationError } from '../errors/defense.exceptions.js';
import type { TokenErrorCode } from '../errors/defense-error-code.js';
import { hasControlCharacter } from './token-ids.js';

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
  /** Where roles come from; default the `roles` claim. Scopes (`scope`/`scp`) are never roles. */
  roles?: RolesMapping;
  /** Whether a roles claim given as one string is split on spaces (external issuers). Default false: `claim_invalid`. */
  splitRoles?: boolean;
  /**
   * Whether `sub` must be free of control characters. Default true (this module's tokens: their bare subject is the
   * key of their user's state, and a control character separates an external issuer from its subject there).
   */
  plainSubject?: boolean;
  /** Whether an OpenID ID token is refused (external issuers): see `idTokenMark`. Default false. */
  refuseIdTokens?: boolean;
  /** When set, the client the token was issued to (see `CLIENT_CLAIMS`) must be one of these. */
  clients?: readonly string[];
}

/**
 * Claims naming the client a token was issued to: `client_id` (RFC 9068; oidc-provider, Cognito), `azp` (Auth0,
 * Keycloak, Entra v2), `cid` (Okta), `appid` (Entra v1).
 */
const CLIENT_CLAIMS = ['client_id', 'azp', 'cid', 'appid'] as const;

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

// Scopes are what the client may do, roles what the user is: a scope named `admin` never makes an admin.
function rolesOf(payload: Record<string, unknown>, rules: ClaimRules): readonly string[] {
  const mapping = rules.roles ?? 'roles';
  const value = typeof mapping === 'function' ? mapping(payload) : claimAt(payload, mapping);
  if (value === undefined) return [];
  if (typeof value === 'string' && typeof mapping !== 'function' && rules.splitRoles) return value.split(' ').filter(Boolean);
  if (!isStringArray(value)) fail('claim_invalid', 'roles');
  return value;
}

/**
 * Whether a token signed by an OpenID provider is an ID token (proof of a login for one client, not a grant to call
 * an API), from the claims only ID tokens carry: a hash of what came with it (`at_hash`, `c_hash`, `s_hash`); a `typ`
 * claim `ID` (Keycloak) or `token_use: id` (Cognito); or a `nonce` that no other party can explain: Keycloak before
 * 25 also puts the login's `nonce` in access tokens, where `azp` (the client) is not among the audiences (the API) or
 * the `typ` claim is `Bearer`; Auth0, Entra, Okta and Cognito put `nonce` in ID tokens only.
 */
function isIdToken(payload: Record<string, unknown>): boolean {
  if (payload.at_hash !== undefined || payload.c_hash !== undefined || payload.s_hash !== undefined) return true;
  const typ = typeof payload.typ === 'string' ? payload.typ.toLowerCase() : undefined;
  if (typ === 'id' || payload.token_use === 'id') return true;
  if (payload.nonce === undefined || typ === 'bearer') return false;
  const { aud, azp } = payload;
  const audiences = typeof aud === 'string' ? [aud] : isStringArray(aud) ? aud : [];
  return typeof azp !== 'string' || audiences.includes(azp);
}

/** Every client claim the token carries must name an allowed client, and it must carry one. */
function isAllowedClient(payload: Record<string, unknown>, clients: readonly string[]): boolean {
  let named = false;
  for (const claim of CLIENT_CLAIMS) {
    const value = payload[claim];
    if (value === undefined) continue;
    if (typeof value !== 'string' || !clients.includes(value)) return false;
    named = true;
  }
  return named;
}

/**
 * A token's times against the clock: expired at `exp` (+ tolerance), not yet valid before `nbf` or `iat` (- tolerance).
 * Written once: a fresh token's claims and a cached principal are re-checked by this same function.
 */
export function checkTokenTimes(iat: number, exp: number, nbf: unknown, nowSec: number, clockToleranceSec: number): void {
  if (nowSec >= exp + clockToleranceSec) fail('token_expired');
  if (typeof nbf === 'number' && nbf > nowSec + clockToleranceSec) fail('token_not_yet_valid');
  if (iat > nowSec + clockToleranceSec) fail('token_not_yet_valid');
}

/**
 * Checks the registered claims of an access token whose signature is already verified: JSON types
 * first (a claim of the wrong type is `claim_invalid`, never a crash), then issuer and audience, then time.
 */
export function validateAccessTokenClaims(payload: Record<string, unknown>, kid: string, rules: ClaimRules): AccessTokenPrincipal {
  const { iss, sub, jti, iat, exp, nbf, sid, auth_time: authTime, cnf } = payload;
  const aud = payload[rules.audienceClaim ?? 'aud'];
  if (!isId(sub) || typeof iss !== 'string' || (rules.plainSubject !== false && hasControlCharacter(sub))) fail('claim_invalid', 'sub');
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
  const roles = rolesOf(payload, rules);

  if (iss !== rules.issuer) fail('claim_invalid', 'iss');
  const audiences = typeof aud === 'string' ? [aud] : aud;
  if (!audiences.some((value) => rules.audiences.includes(value))) fail('claim_invalid', 'aud');
  if (rules.refuseIdTokens && isIdToken(payload)) fail('claim_invalid', 'id_token');
  if (rules.clients && !isAllowedClient(payload, rules.clients)) fail('claim_invalid', 'client');

  if (exp <= iat || exp - iat > rules.maxLifetimeSec) fail('claim_invalid', 'lifetime');
  checkTokenTimes(iat, exp, nbf, rules.nowSec, rules.clockToleranceSec);
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

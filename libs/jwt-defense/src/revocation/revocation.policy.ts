import type { SecurityEvent, SecurityEventType } from '../events/security-event.js';
import { MAX_ACCESS_TOKEN_TTL_SEC } from '../jwt-defense.constants.js';
import type { GlobalDefenseState, LockdownMode } from '../store/defense-store.ports.js';
import { parseOwnJti } from '../token/token-ids.js';
import type { RevocationFacts } from './revocation.check-part.js';

/**
 * The revocation rules, in one place and pure (no Nest, no store, no I/O): how long each revocation must be kept so
 * that it outlives every token it covers, the verdicts, and the events that record the actions. The app's services
 * and the `jwt-defense` CLI both use it; the CLI, which does not know the app's options, with the largest limits the
 * options allow ({@link LARGEST_REVOCATION_LIMITS}): an entry it writes may live longer than needed, never shorter.
 */

/** What the rules depend on, from the resolved options. */
export interface RevocationLimits {
  /** The longest own access token (`token.maxAccessTokenTtlSec`: the largest `exp - iat` verification accepts), in seconds. */
  readonly accessTokenTtlSec: number;
  /** `token.clockToleranceSec`: how long past `exp` verification still accepts an own token, in seconds. */
  readonly clockToleranceSec: number;
  /** The longest external token: the largest `issuers[].maxTokenTtlSec`, in seconds; 0 without external issuers. */
  readonly externalTokenTtlSec: number;
  /** The largest `issuers[].clockToleranceSec`, in seconds; 0 without external issuers. */
  readonly externalClockToleranceSec: number;
  /** `session.refreshTokenTtlSec`: the longest refresh session, in seconds. */
  readonly refreshTokenTtlSec: number;
  /** `revocation.graceSec`: kept past what a revocation covers (late checks), in seconds. */
  readonly graceSec: number;
  /** `revocation.globalStateRefreshMs`: how late another instance may apply a global measure, in ms. */
  readonly globalStateRefreshMs: number;
}

/** The largest value of each limit that the options resolver accepts (a test holds them to it). */
export const LARGEST_REVOCATION_LIMITS: RevocationLimits = Object.freeze({
  accessTokenTtlSec: MAX_ACCESS_TOKEN_TTL_SEC,
  clockToleranceSec: 300,
  externalTokenTtlSec: 86_400,
  externalClockToleranceSec: 300,
  refreshTokenTtlSec: 7_776_000,
  graceSec: 86_400,
  globalStateRefreshMs: 3_600_000,
});

/** The options the limits come from (a structural subset of the resolved `JwtDefenseOptions`). */
export interface RevocationLimitsSource {
  token: { maxAccessTokenTtlSec: number; clockToleranceSec: number };
  issuers: ReadonlyArray<{ maxTokenTtlSec: number; clockToleranceSec: number }>;
  session: { refreshTokenTtlSec: number };
  revocation: { graceSec: number; globalStateRefreshMs: number };
}

export function revocationLimitsOf(options: RevocationLimitsSource): RevocationLimits {
  return Object.freeze({
    accessTokenTtlSec: options.token.maxAccessTokenTtlSec,
    clockToleranceSec: options.token.clockToleranceSec,
    externalTokenTtlSec: Math.max(0, ...options.issuers.map((issuer) => issuer.maxTokenTtlSec)),
    externalClockToleranceSec: Math.max(0, ...options.issuers.map((issuer) => issuer.clockToleranceSec)),
    refreshTokenTtlSec: options.session.refreshTokenTtlSec,
    graceSec: options.revocation.graceSec,
    globalStateRefreshMs: options.revocation.globalStateRefreshMs,
  });
}

/** A token to denylist, as much as is known of it. */
export interface DenylistedToken {
  jti: string;
  /** A token of an external issuer (its lifetime bounds are that issuer's; its jti carries no time of ours). */
  external: boolean;
  /** Its `exp`, epoch ms, when known. */
  expiresAtMs?: number;
}

const SECOND_MS = 1000;
const ceilToSecond = (ms: number): number => Math.ceil(ms / SECOND_MS) * SECOND_MS;

/** The TTLs of every revocation entry, from one set of limits. */
export class RevocationPolicy {
  readonly limits: RevocationLimits;

  constructor(limits: RevocationLimits) {
    this.limits = Object.freeze({ ...limits });
  }

  /**
   * The TTL of a jti's denylist entry, ms: until the token's latest expiry, plus `graceSec` (never less than the clock
   * tolerance, for which verification accepts a token past its `exp`). The latest expiry is its `exp` when given; for one
   * of our jtis, its embedded issue time plus the longest lifetime; otherwise, for a token valid now, now plus the clock
   * tolerance (its `iat` may be that far ahead) plus the longest lifetime of its issuer.
   */
  denylistTtlMs(token: DenylistedToken, nowMs: number): number {
    const { ttlSec, toleranceSec } = this.bounds(token.external);
    const lifeMs = ttlSec * SECOND_MS;
    const toleranceMs = toleranceSec * SECOND_MS;
    let latestExpiryMs: number;
    if (token.expiresAtMs !== undefined) latestExpiryMs = token.expiresAtMs;
    else {
      const own = token.external ? undefined : parseOwnJti(token.jti);
      // A jti only looks like ours by its check, which anyone can compute: its time is believed up to now (+ the tolerance).
      latestExpiryMs = Math.min(own?.issuedAtMs ?? Number.POSITIVE_INFINITY, nowMs + toleranceMs) + lifeMs;
    }
    // Verification works in whole seconds: a token whose exp falls within a second is accepted to its end.
    return Math.max(ceilToSecond(latestExpiryMs) - nowMs, 0) + Math.max(this.limits.graceSec * SECOND_MS, toleranceMs);
  }

  /**
   * The TTL of a user's not-before epoch (revoke-all), ms: the longest token or session lifetime, plus the clock
   * tolerance and `graceSec`. A session it covers cannot refresh while it lives and ends within the session lifetime.
   */
  get userEpochTtlMs(): number {
    const { accessTokenTtlSec, externalTokenTtlSec, refreshTokenTtlSec } = this.limits;
    return (Math.max(refreshTokenTtlSec, accessTokenTtlSec, externalTokenTtlSec) + this.largestToleranceSec + this.limits.graceSec) * SECOND_MS;
  }

  /**
   * The TTL of a user's step-up epoch (an anomaly containment), ms. A step-up does not end a session, and a token
   * refreshed from it keeps the session's login time: it must outlive a token minted at the very end of a session
   * started before it, so the session lifetime plus the access-token lifetime, plus the clock tolerance and `graceSec`.
   */
  get stepUpEpochTtlMs(): number {
    const { accessTokenTtlSec, externalTokenTtlSec, refreshTokenTtlSec } = this.limits;
    return (Math.max(refreshTokenTtlSec + accessTokenTtlSec, externalTokenTtlSec) + this.largestToleranceSec + this.limits.graceSec) * SECOND_MS;
  }

  /**
   * How long a revoked session is kept as revoked, ms: until every access token it may have minted has expired (its
   * refresh token is then unknown, refused all the same), plus `graceSec`. Bounds what revoked sessions hold.
   */
  get revokedSessionRetainMs(): number {
    return (this.limits.accessTokenTtlSec + this.limits.clockToleranceSec + this.limits.graceSec) * SECOND_MS;
  }

  /**
   * How long after a rotated key stopped signing the key ring may retire it, ms: no token it signed can still be
   * valid (the longest lifetime and the clock tolerance), and no other instance still signs with it (its refresh).
   */
  get rotatedKeyRetireAfterMs(): number {
    return (this.limits.accessTokenTtlSec + this.limits.clockToleranceSec) * SECOND_MS + this.limits.globalStateRefreshMs;
  }

  private get largestToleranceSec(): number {
    return Math.max(this.limits.clockToleranceSec, this.limits.externalClockToleranceSec);
  }

  private bounds(external: boolean): { ttlSec: number; toleranceSec: number } {
    const { accessTokenTtlSec, clockToleranceSec, externalTokenTtlSec, externalClockToleranceSec } = this.limits;
    return external ? { ttlSec: externalTokenTtlSec, toleranceSec: externalClockToleranceSec } : { ttlSec: accessTokenTtlSec, toleranceSec: clockToleranceSec };
  }
}

/** Why the revocation layer refuses a token: its jti, its session, its user's epoch, a global measure, its key. */
export type RevocationVerdict = 'jti' | 'session' | 'user' | 'global' | 'key' | undefined;

/**
 * The verdict of the global measures (a retired `kid`, revoke everything before T) for a token signed by `kid` and
 * authenticated at `authenticatedAtMs` (epoch ms, see `authenticatedAtMs()`).
 */
export function globalVerdict(state: Pick<GlobalDefenseState, 'notBeforeMs' | 'retiredKids'>, kid: string, authenticatedAtMs: number): RevocationVerdict {
  if (state.retiredKids[kid] !== undefined) return 'key';
  if (authenticatedAtMs <= state.notBeforeMs) return 'global';
  return undefined;
}

/**
 * The verdict of the per-user state the request's store call read (the revocation part). Without `authenticatedAtMs`
 * the user epoch is not compared.
 */
export function storeVerdict(facts: RevocationFacts, authenticatedAtMs: number | undefined): RevocationVerdict {
  if (facts.jtiRevoked) return 'jti';
  if (facts.sessionRevoked) return 'session';
  if (authenticatedAtMs !== undefined && authenticatedAtMs <= facts.userNotBeforeMs) return 'user';
  return undefined;
}

/**
 * A security event of an incident action before it is dated, `[type, fields]` (spread it into
 * `SecurityEventService.record`): the same wherever the action is taken, the app or the CLI.
 */
export type IncidentEvent = readonly [type: SecurityEventType, fields: Omit<SecurityEvent, 'id' | 'at' | 'type'>];

/** Who acted, and the issuer of the user acted on when it is an external one. */
export interface IncidentSource {
  actor?: string;
  /** The external issuer of the user (absent for this module's own users). */
  iss?: string;
}

const sourceDetails = ({ actor, iss }: IncidentSource): Record<string, string> => ({ ...(actor === undefined ? {} : { actor }), ...(iss === undefined ? {} : { iss }) });

/** The events of incident actions, one shape for the services and the CLI. */
export const incidentEvents = {
  tokenRevoked: (jti: string, sub: string | undefined, reason: string, source: IncidentSource): IncidentEvent => ['token_revoked', { jti, sub, reason, details: sourceDetails(source) }],
  userRevoked: (sub: string, reason: string, source: IncidentSource): IncidentEvent => ['user_revoked', { sub, reason, details: sourceDetails(source) }],
  sessionRevoked: (sub: string, sid: string, reason: string, actor?: string): IncidentEvent => ['session_revoked', { sub, reason, details: { sid, ...sourceDetails({ actor }) } }],
  globalRevoked: (notBeforeMs: number, reason: string, actor?: string): IncidentEvent => [
    'global_revoked',
    { reason, details: { notBefore: new Date(notBeforeMs).toISOString(), ...sourceDetails({ actor }) } },
  ],
  keyRetired: (kid: string, reason: string, actor?: string): IncidentEvent => ['key_retired', { reason, details: { kid, ...sourceDetails({ actor }) } }],
  lockdownChanged: (mode: LockdownMode, previous: LockdownMode, reason: string, actor?: string): IncidentEvent => [
    'lockdown_changed',
    { reason, details: { mode, previous, ...sourceDetails({ actor }) } },
  ],
};

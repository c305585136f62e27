import type { SecurityEvent, SecurityEventQuery } from '../events/security-event.js';
import type { RateLimitAlgorithm, RateLimitResult } from '../throttling/rate-limit.js';

/** A per-user rate limit counted inside the check. */
export interface UserRateLimitRequest {
  limit: number;
  ttlMs: number;
  blockDurationMs: number;
  algorithm: RateLimitAlgorithm;
  /** The caller's clock, epoch ms. */
  nowMs: number;
}

/** Per-request state of one token, read in ONE store round trip. */
export interface DefenseCheckRequest {
  /** Cluster hash tag of the subject (`userTag(sub)`). */
  tag: string;
  sub: string;
  jti: string;
  /** Refresh session (family) of the token, when it has one. */
  sid?: string;
  /** Count this request against the user's rate limit, in the same round trip. */
  userRate?: UserRateLimitRequest;
}

export interface DefenseCheckResult {
  /** The jti is on the denylist. */
  jtiRevoked: boolean;
  /** The token's refresh session has been revoked (logout, reuse detection, incident). */
  sessionRevoked: boolean;
  /** Tokens of this user issued at or before this instant (epoch ms) are revoked; 0 when never set. */
  userNotBeforeMs: number;
  /** The user's rate-limit counter after this hit, when `userRate` was asked for. */
  userRate?: RateLimitResult;
}

/** What the denylist keeps about a revoked token. */
export interface RevocationRecord {
  jti: string;
  reason: string;
  /** Epoch ms. */
  revokedAtMs: number;
  /** Who revoked it (an admin's sub, `system`, ...). */
  actor?: string;
  sub?: string;
}

/** State every instance applies to every token, refreshed in the background (never on the hot path). */
export interface GlobalDefenseState {
  /** Every token issued at or before this instant (epoch ms) is revoked; 0 when never set. */
  notBeforeMs: number;
  /** kid → epoch ms of retirement: tokens signed by these keys are refused. */
  retiredKids: Record<string, number>;
}

/** A refresh session (token family) as stored. */
export interface RefreshSessionRecord {
  sid: string;
  tag: string;
  sub: string;
  /** base64url HMAC key of this family's refresh tokens. */
  key: string;
  /** Generation of the only refresh token that is still usable. */
  generation: number;
  createdAtMs: number;
  expiresAtMs: number;
  /** Extra claims of the access tokens minted from this session (JSON). */
  claims: string;
  /** Set once revoked. */
  revokedReason?: string;
}

export type RotateOutcome = 'rotated' | 'reuse' | 'revoked' | 'missing';

export interface CleanupReport {
  scanned: number;
  removed: number;
  /** True when the time budget ran out before the scan finished. */
  truncated: boolean;
}

/**
 * The narrow, async contract between jwt-defense and its shared state. `MemoryDefenseStore` (embedded,
 * one process) and `RedisDefenseStore` (standalone or Cluster) implement it. Every per-user key shares the
 * user's hash tag, so each call is one round trip on one Cluster slot.
 */
export interface DefenseStore {
  readonly kind: 'memory' | 'redis';

  /** The hot path: every per-request defence fact about a token, in one round trip. */
  check(request: DefenseCheckRequest): Promise<DefenseCheckResult>;

  /** Puts a jti on the denylist until `ttlMs` from now. Returns false when it was already there. */
  revokeToken(tag: string, record: RevocationRecord, ttlMs: number): Promise<boolean>;
  getRevocation(tag: string, jti: string): Promise<RevocationRecord | undefined>;
  /** Raises (never lowers) the user's not-before epoch; the key lives `ttlMs`. Returns the epoch in force. */
  raiseUserNotBefore(tag: string, sub: string, atMs: number, ttlMs: number): Promise<number>;

  readGlobalState(): Promise<GlobalDefenseState>;
  /** Raises (never lowers) the global not-before epoch. Returns the epoch in force. */
  raiseGlobalNotBefore(atMs: number): Promise<number>;
  retireKid(kid: string, atMs: number): Promise<void>;

  createSession(session: RefreshSessionRecord): Promise<void>;
  getSession(tag: string, sid: string): Promise<RefreshSessionRecord | undefined>;
  /**
   * Atomically moves a session from `generation` to `generation + 1`. A generation below the current one is
   * reuse: the session is revoked in the same step. A session created at or before the user's not-before
   * epoch counts as revoked.
   */
  rotateSession(tag: string, sid: string, sub: string, generation: number): Promise<RotateOutcome>;
  /** Returns false when the session does not exist. */
  revokeSession(tag: string, sid: string, reason: string): Promise<boolean>;

  appendEvent(event: SecurityEvent): Promise<void>;
  /** Newest first. */
  listEvents(query: SecurityEventQuery): Promise<SecurityEvent[]>;

  /** Removes what has expired, within a time budget. Never blocks the store (no KEYS, no full scan at once). */
  cleanupExpired(budgetMs: number): Promise<CleanupReport>;

  ping(): Promise<void>;
  close(): Promise<void>;
}

/** Injection token of the store (a `Symbol` of the same name as the interface). */
export const DefenseStore = Symbol('DefenseStore');

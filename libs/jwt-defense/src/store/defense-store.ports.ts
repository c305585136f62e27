import type { MaybePromise } from '../common/maybe-promise.js';
import type { SecurityEvent, SecurityEventQuery } from '../events/security-event.js';
import type { RateLimitAlgorithm, RateLimitResult } from '../throttling/rate-limit.js';
import type { DefenseCheckRequest, DefenseCheckResult } from './check-part.js';

/**
 * The store, split by concern. Each service injects only the port it uses (`@Inject(SessionStore)`); a store
 * implements them all ({@link DefenseStore}). Every per-user key shares the user's hash tag, so each call is one
 * round trip on one Redis Cluster slot. Failures are thrown as `DefenseStoreError`; the caller applies its fail mode.
 */

/** One hit on a rate-limit counter. */
export interface RateLimitHit {
  /** Which counters: `ip`, `body` (e.g. usernames), or a route's own space. Spaces never share state or capacity. */
  space: string;
  /** The counter within its space (an address, a lower-cased username...). */
  key: string;
  limit: number;
  ttlMs: number;
  /** `0`: no block beyond the window. */
  blockDurationMs: number;
  algorithm: RateLimitAlgorithm;
  /** The caller's clock, epoch ms. */
  nowMs: number;
  /**
   * Who makes the hit, when it is not the counter's own key (the client address behind a body-field counter such as a
   * username): a bounded store caps each principal's share of the counters it creates. Default: `key`.
   */
  principal?: string;
}

/** A per-user rate limit counted inside the per-request check. */
export interface UserRateLimitRequest extends Omit<RateLimitHit, 'space' | 'key' | 'principal'> {
  /**
   * Which of the user's counters: absent (or `''`), the user's own; a name ([A-Za-z0-9_-], at most 16 characters), a
   * counter of its own beside it (a `throttle.userBy` value's: two limits never share a window).
   */
  counter?: string;
}

/** What the context-risk layer reads about the request's context in the per-request call. */
export interface RiskRead {
  /** ISO 3166 country of the request, when known. */
  country?: string;
  /** Device fingerprint of the request. */
  device: string;
  /** Hour of the week of the request, 0-167 (UTC; 0 = Monday 00:00). */
  hourOfWeek: number;
}

/** What the store knows about a user's usual contexts (see `RiskRead`). */
export interface RiskProfile {
  /** Requests learned so far (0: no history yet). */
  learned: number;
  /** When the request's country was last learned for this user, epoch ms; 0: never. */
  countrySeenAtMs: number;
  /** When the request's device was last learned for this user, epoch ms; 0: never. */
  deviceSeenAtMs: number;
  /** Decayed weight of learned requests at this hour of the week (± 1 hour), and of all hours. */
  hourWeight: number;
  hourTotal: number;
  /** The last learned country and when, epoch ms (for impossible travel). */
  lastCountry?: string;
  lastCountryAtMs: number;
  /** The user's last risk challenge (step-up or deny), epoch ms; 0: never. */
  challengedAtMs: number;
  /**
   * The context (`riskContextKey`) that last challenge was raised for, while a token authenticated after it may pass it
   * there; absent when none was, or when a login from another context withdrew it.
   */
  challengedContext?: string;
  /** The hour-of-week index (hours since the epoch) last learned: learning at most once per hour per user. */
  learnedHour: number;
}

/** The anomaly layer's per-request count: one interval counter and an EWMA baseline per user × route. */
export interface AnomalyCount {
  /** The route template's id (a short hash: bounded field names). */
  route: string;
  intervalMs: number;
  /** EWMA smoothing of the baseline, 0-1. */
  alpha: number;
  warmupIntervals: number;
  factor: number;
  minRequests: number;
  /** Routes tracked per user; the least recently used goes beyond it. */
  maxRoutes: number;
  /** How long an idle user's baselines are kept, ms. */
  idleTtlMs: number;
  /**
   * The most a baseline may grow from one interval to the next (×), beyond the level at which `minRequests` alone would
   * decide: a ramp faster than this alerts instead of teaching the baseline.
   */
  maxGrowth: number;
  nowMs: number;
}

/** The anomaly layer's answer for one request: its user × route count in this interval, against the baseline. */
export interface AnomalyResult {
  /** This interval's count, this request included. */
  count: number;
  /** The baseline (EWMA of past intervals' counts) and how many intervals it has seen. */
  baseline: number;
  intervals: number;
  /** True for the ONE request that first went over `factor × baseline` (and `minRequests`) in this interval. */
  alerted: boolean;
}

// The per-request call's request and answer: one input and one result per layer's part (see check-part.ts).
export type { DefenseCheckRequest, DefenseCheckResult } from './check-part.js';

/** What a context-risk learning write records (after an allowed request or a login). */
export interface RiskLearning extends RiskRead {
  nowMs: number;
  /**
   * A login's learning: the user re-authenticated in the context `contextKey` (`riskContextKey`). A pending challenge
   * raised for another context can no longer be passed (a login elsewhere must not let a token pass where the
   * challenge was raised).
   */
  login?: { contextKey: string };
  /** Whether to count this request in the hour-of-week histogram (at most once per user per hour). */
  countHour: boolean;
  maxDevices: number;
  maxCountries: number;
  /** Half-life of the hour-of-week histogram, ms. */
  halfLifeMs: number;
  /** How long an idle profile is kept, ms. */
  ttlMs: number;
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
  /** The signing key chosen by the last key rotation (`IncidentService.rotateKey`); absent: each instance's configured key. */
  signingKid?: string;
  /** The configured signing key an instance declared at boot (what a retirement by the CLI is checked against). */
  declaredSigningKid?: string;
  /** The issuers an instance declared at boot (what the CLI checks an `--issuer` against); absent: none declared. */
  declaredIssuers?: DeclaredIssuers;
  /** Moves on every change to the rotated keys: instances re-read them only when it moved. 0: none yet. */
  keysVersion?: number;
  /** The lockdown in force; absent: never set. */
  lockdown?: LockdownState;
}

/**
 * The issuers whose users an app knows, as an instance declares them in the store at boot (`IncidentService`), so that
 * the `jwt-defense` CLI, which does not know the app's options, can tell a local user from an external one.
 */
export interface DeclaredIssuers {
  /** This module's own issuer (`token.issuer`); absent when the app issues no tokens of its own. */
  own?: string;
  /** The external issuers (`issuers[].issuer`), in the options' order; empty when there are none. */
  external: string[];
}

/** How the whole API answers during an incident: normally, a new login for every older token, or admins only. */
export type LockdownMode = 'off' | 'step-up' | 'deny-non-admin';
export const LOCKDOWN_MODES: readonly LockdownMode[] = ['off', 'step-up', 'deny-non-admin'];

/** The incident lockdown in force (`GlobalDefenseState.lockdown`): the newest decision wins (`setLockdown`). */
export interface LockdownState {
  mode: LockdownMode;
  /** When this mode was set, epoch ms (`step-up`: tokens authenticated at or before it need a new login). */
  sinceMs: number;
  reason?: string;
  actor?: string;
}

/**
 * A signing key made by a rotation, as stored for every instance. The private key (PKCS#8 DER) or the HS secret is
 * sealed with AES-256-GCM under the key-encryption key of the options (`incident.keyEncryptionKey`), with the kid
 * and algorithms as additional data: the store never holds usable key material, and an instance only trusts a key
 * it could unseal (a writer of the store cannot slip in a verification key of its own).
 */
export interface StoredSigningKey {
  kid: string;
  /** The key's algorithm allow-list; the first signs. */
  algorithms: string[];
  /** `v1.<kekId>.<iv>.<tag>.<ciphertext>`, base64url parts. */
  sealed: string;
  createdAtMs: number;
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

/**
 * `rotated`: moved to the next generation; `replayed`: the previous generation presented again within the reuse
 * grace, before the new one was used (the caller re-issues the new generation); `reuse`: an older generation, the
 * session is now revoked; `revoked`: revoked before, or covered by an epoch; `missing`: no such session;
 * `proof_replayed`: the request's DPoP proof was seen before, nothing changed.
 */
export type RotateOutcome = 'rotated' | 'replayed' | 'reuse' | 'revoked' | 'missing' | 'proof_replayed';

/** The per-user bound on live refresh sessions, applied when one is created. */
export interface SessionLimits {
  /** Most live (unrevoked, unexpired) sessions of one user; beyond it the oldest are revoked (`session_limit`). */
  maxPerUser: number;
  /** How long a revoked session is kept as revoked, ms: the longest remaining life of its access tokens. */
  revokedRetainMs: number;
}

/** What a rotation checks besides the generation, atomically. */
export interface RotateConditions {
  /** The global revoke-everything epoch this instance knows (epoch ms): a session created at or before it is revoked. */
  globalNotBeforeMs: number;
  /**
   * The DPoP proof of the refresh request (its replay key, kept `ttlMs`): recorded in the same atomic step as the
   * rotation, which does not happen when the proof was seen before (`proof_replayed`).
   */
  dpopProof?: { key: string; ttlMs: number };
  /** How long a session revoked by reuse is kept as revoked, ms (its access tokens' longest remaining life). Default: until it expires. */
  revokedRetainMs?: number;
  /** The caller's clock, epoch ms. A store with a clock of its own (Redis `TIME`) measures the grace with that instead. */
  nowMs: number;
  /** How long after a rotation the previous generation may be replayed, ms; 0: never. */
  reuseGraceMs: number;
}

/** What one `cleanupExpired` pass did: entries looked at and removed. */
export interface CleanupReport {
  scanned: number;
  removed: number;
  /** True when the time budget ran out before the scan finished. */
  truncated: boolean;
}

/** The hot path: every per-request defence fact about a token, in one round trip. */
export interface RequestCheckStore {
  /**
   * Runs the asked-for parts of the layers (store/check-part.ts) in ONE call: one script on Redis. A store that can
   * answer at once (the memory store) returns the result itself, sparing the request a promise and a microtask; a
   * failure is then thrown (a `DefenseStoreError`) instead of rejected.
   */
  check(request: DefenseCheckRequest): MaybePromise<DefenseCheckResult>;
  /**
   * Records a DPoP proof verified outside the per-request check (a token endpoint: login, refresh) under `tag` for
   * `ttlMs`. Returns false when it had been recorded before (a replay).
   */
  recordProof(tag: string, key: string, ttlMs: number): Promise<boolean>;
}

/** Rate-limit counters (IP, body field), one atomic call per hit. */
export interface RateLimitStore {
  /** One atomic count. A store that can answer at once (the memory store) returns the result itself. */
  hit(request: RateLimitHit): MaybePromise<RateLimitResult>;
}

/** The jti denylist and per-user epochs. */
export interface RevocationStore {
  /** Puts a jti on the denylist until `ttlMs` from now. Returns false when it was already there. */
  revokeToken(tag: string, record: RevocationRecord, ttlMs: number): Promise<boolean>;
  getRevocation(tag: string, jti: string): Promise<RevocationRecord | undefined>;
  /** Raises (never lowers) the user's not-before epoch; the key lives `ttlMs`. Returns the epoch in force. */
  raiseUserNotBefore(tag: string, sub: string, atMs: number, ttlMs: number): Promise<number>;
}

/** Incident measures that apply to every token, read in the background by every instance. */
export interface GlobalStateStore {
  readGlobalState(): Promise<GlobalDefenseState>;
  /** Raises (never lowers) the global not-before epoch. Returns the epoch in force. */
  raiseGlobalNotBefore(atMs: number): Promise<number>;
  /**
   * Retires `kid` unless it is the signing key: the one chosen by the last rotation, else `signingKid` (the caller's
   * configured key), else the one declared at boot; checked in the same atomic step. A retired rotated key's sealed
   * material is deleted. Returns false (nothing changed) when `kid` signs.
   */
  retireKid(kid: string, atMs: number, signingKid?: string): Promise<boolean>;
  /** Records the configured signing kid of an instance at boot (see `retireKid`). */
  declareSigningKid(kid: string): Promise<void>;
  /**
   * Records the issuers of an instance at boot, replacing those declared before (`readGlobalState().declaredIssuers`);
   * optional. `RedisDefenseStore` has it: the `jwt-defense` CLI reads them to check an `--issuer`.
   */
  declareIssuers?(issuers: DeclaredIssuers): Promise<void>;
  /** Sets the lockdown when `state.sinceMs` is not older than the one in force (the newest decision wins). */
  setLockdown(state: LockdownState): Promise<void>;
  /**
   * The store's clock, epoch ms; optional. A store shared by several instances should have it: revocation epochs
   * (revoke-all, revoke-before, lockdown) and the login times they are compared with are then read from this one
   * clock, so instances whose clocks disagree (within the clock tolerance) never flip a decision. Without it, each
   * instance's `DefenseClock`. `RedisDefenseStore` answers Redis `TIME`.
   */
  timeMs?(): Promise<number>;
}

/** How many rotated keys the ring keeps, and when the oldest may go (see `KeyRingStore.commitKeyRotation`). */
export interface KeyRingLimits {
  /** Most rotated keys kept, the new one included. */
  maxKeys: number;
  /**
   * A rotated key may be retired once it stopped signing at least this long ago, ms (the store's clock): the longest
   * access-token lifetime plus the clock tolerance plus the global-state refresh, so no token it signed is still valid.
   */
  retireAfterMs: number;
}

/**
 * What one rotation came to, as every call that joined it is answered: the new key (and the rotated keys retired to
 * make room), or a refusal because the ring is full.
 */
export type KeyRotationOutcome =
  | {
      rotated: true;
      kid: string;
      /** The first of the new key's algorithms (the one that signs). */
      algorithm: string;
      /** The signing key it replaced: the last rotated one, else the caller's. */
      previousKid?: string;
      /** Oldest rotated keys retired by this rotation (none of their tokens can still be valid). */
      retiredKids: string[];
    }
  | {
      rotated: false;
      reason: 'key_ring_full';
      /** When the oldest rotated key may be retired, ms from the rotation (the store's clock). */
      retryAfterMs: number;
    };

/**
 * Signing keys made by rotations, shared by every instance (see {@link StoredSigningKey}). One rotation at a time for
 * all instances: `lockKeyRotation` elects the caller that rotates, the others wait for its outcome
 * (`keyRotationOutcome`), and `commitKeyRotation` releases the lock in the same atomic step that adds the key, so a
 * call made after a rotation answered always starts a new one.
 */
export interface KeyRingStore {
  /**
   * Takes the ring's rotation lock for `flight` (a random id) for `ttlMs`, unless another flight holds it. Returns
   * `undefined` when taken (the caller rotates), else the flight that holds it (the caller waits for its outcome).
   */
  lockKeyRotation(flight: string, ttlMs: number): Promise<string | undefined>;
  /**
   * In one atomic step: when the ring would hold more than `limits.maxKeys` rotated keys, retires the oldest (by the
   * time each stopped signing) if each stopped signing at least `limits.retireAfterMs` ago, else refuses (nothing
   * changes); adds `key` and makes it the signing key of every instance (the key it replaces stops signing now);
   * records the outcome for the flight's waiters (kept `outcomeTtlMs`), and releases the flight's lock.
   * `previousKid` is the caller's signing kid, answered when no rotated key signed before.
   */
  commitKeyRotation(flight: string, key: StoredSigningKey, previousKid: string | undefined, limits: KeyRingLimits, outcomeTtlMs: number): Promise<KeyRotationOutcome>;
  /** The outcome of `flight` once committed; `'pending'` while it holds the lock; `undefined` when neither (it gave up). */
  keyRotationOutcome(flight: string): Promise<KeyRotationOutcome | 'pending' | undefined>;
  /** The rotated keys that are not retired. */
  listSigningKeys(): Promise<StoredSigningKey[]>;
}

/** Refresh sessions (token families). */
export interface SessionStore {
  /**
   * Stores a new session. With `limits`, the user's live sessions beyond `maxPerUser` (the oldest first) are revoked
   * in the same call (reason `session_limit`); returns their ids.
   */
  createSession(session: RefreshSessionRecord, limits?: SessionLimits): Promise<string[]>;
  getSession(tag: string, sid: string): Promise<RefreshSessionRecord | undefined>;
  /**
   * Atomically moves a session from `generation` to `generation + 1`. A generation below the current one is
   * reuse: the session is revoked in the same step (except the previous one within the reuse grace, before the
   * new one was used: `replayed`). A session created at or before the user's or the global not-before epoch
   * counts as revoked, checked in the same step.
   */
  rotateSession(tag: string, sid: string, sub: string, generation: number, conditions: RotateConditions): Promise<RotateOutcome>;
  /**
   * Returns false when the session does not exist. With `retainMs`, the revoked session is kept (as revoked) at most
   * that long: long enough for every access token it minted to expire, after which its refresh token is unknown.
   */
  revokeSession(tag: string, sid: string, reason: string, retainMs?: number): Promise<boolean>;
}

/** Per-user state of the context-risk and anomaly layers, beyond what the per-request check reads. */
export interface ContextStore {
  /** Records a context as known for the user (after a login or an allowed request). */
  learnContext(tag: string, sub: string, learning: RiskLearning): Promise<void>;
  /**
   * Records a risk challenge (step-up or deny) at `atMs` for the context `contextKey` (`riskContextKey`); the time is
   * never lowered, and the context is the one of the latest challenge.
   */
  recordChallenge(tag: string, sub: string, atMs: number, ttlMs: number, contextKey: string): Promise<void>;
  /** Raises (never lowers) the user's step-up epoch: tokens authenticated at or before it need a new login. */
  raiseStepUpBefore(tag: string, sub: string, atMs: number, ttlMs: number): Promise<number>;
}

/** The bounded security event log. */
export interface EventStore {
  appendEvent(event: SecurityEvent): Promise<void>;
  /** Newest first. */
  listEvents(query: SecurityEventQuery): Promise<SecurityEvent[]>;
}

/** Lifecycle and housekeeping of a store. */
export interface StoreMaintenance {
  /** Shown by health endpoints (`memory`, `redis`, or your own). */
  readonly kind: string;
  /** Resolves once the store can answer (or rejects after `timeoutMs`); optional. */
  ready?(timeoutMs: number): Promise<void>;
  /** Removes what has expired, within a time budget. Never blocks the store (no KEYS, no full scan at once). */
  cleanupExpired(budgetMs: number): Promise<CleanupReport>;
  ping(): Promise<void>;
  /** Closes only what the store opened itself. */
  close(): Promise<void>;
}

/**
 * Everything jwt-defense keeps: `MemoryDefenseStore` (embedded, one process) and `RedisDefenseStore`
 * (standalone or Cluster) implement it; so can your own (`store: { type: 'custom', store }`), and the
 * contract suite can check it: `runDefenseStoreContract()` from `@jwt-defense/core/store`, in your own Jest.
 */
export interface DefenseStore
  extends RequestCheckStore, RateLimitStore, RevocationStore, GlobalStateStore, KeyRingStore, SessionStore, ContextStore, EventStore, StoreMaintenance {}

/** Injection tokens: a `Symbol` with the same name as each port. */
export const DefenseStore = Symbol('DefenseStore');
export const RequestCheckStore = Symbol('RequestCheckStore');
export const RateLimitStore = Symbol('RateLimitStore');
export const RevocationStore = Symbol('RevocationStore');
export const GlobalStateStore = Symbol('GlobalStateStore');
export const SessionStore = Symbol('SessionStore');
export const EventStore = Symbol('EventStore');
export const ContextStore = Symbol('ContextStore');
export const KeyRingStore = Symbol('KeyRingStore');

/** The methods a custom store must have (checked at boot). */
export const DEFENSE_STORE_METHODS = [
  'check', 'recordProof', 'hit', 'revokeToken', 'getRevocation', 'raiseUserNotBefore', 'readGlobalState', 'raiseGlobalNotBefore',
  'retireKid', 'createSession', 'getSession', 'rotateSession', 'revokeSession', 'learnContext', 'recordChallenge',
  'raiseStepUpBefore', 'appendEvent', 'listEvents', 'declareSigningKid', 'setLockdown', 'lockKeyRotation', 'commitKeyRotation',
  'keyRotationOutcome', 'listSigningKeys',
  'cleanupExpired', 'ping', 'close',
] as const;

import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Inject, Injectable, Logger, Optional, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import { DefenseClock } from '../common/defense-clock.js';
import { EpochClock } from '../common/epoch-clock.js';
import { InvalidRequestException, KeyRingFullException, SigningKeyActiveException } from '../errors/defense.exceptions.js';
import { SecurityEventService } from '../events/security-event.service.js';
import { toNdjsonLine, type SecurityEvent, type SecurityEventType } from '../events/security-event.js';
import { DEFENSE_METRICS, KNOWN_ISSUERS } from '../jwt-defense.tokens.js';
import type { DefenseMetricsSink } from '../pipeline/metrics-sink.js';
import { incidentEvents, RevocationPolicy } from '../revocation/revocation.policy.js';
import { RevocationService, type RevokeTokenOptions } from '../revocation/revocation.service.js';
import { DefenseStoreError } from '../store/defense-store.errors.js';
import { DefenseStoreLifecycle } from '../store/defense-store.provider.js';
import {
  GlobalStateStore,
  KeyRingStore,
  RevocationStore,
  type GlobalDefenseState,
  type KeyRingLimits,
  type KeyRotationOutcome,
  type LockdownMode,
  type LockdownState,
} from '../store/defense-store.ports.js';
import type { AccessTokenPrincipal } from '../token/access-token-claims.js';
import type { KnownIssuers } from '../token/token-ids.js';
import type { JwtAlgorithm } from '../token/key-ring.js';
import { TokenService } from '../token/token.service.js';
import { IncidentOptions } from './incident.options.js';
import { generateKeyFor, newRotatedKid, openSigningKey, sealSigningKey } from './key-rotation.js';
import { keyEncryptionKeyFrom } from './key-sealing.js';

/** What a lockdown asks of one token: nothing, a new login, or a refusal. */
export type LockdownVerdict = 'step-up' | 'deny' | undefined;

/** A key of the ring as `IncidentService.status()` shows it: never key material. */
export interface KeyStatus {
  kid: string;
  algorithms: readonly string[];
  /** Signs new tokens on this instance. */
  signing: boolean;
  /** In the JWKS. */
  published: boolean;
  /** Retired (tokens signed with it are refused), ISO 8601. */
  retiredAt?: string;
}

/** The incident state of this instance (what the dashboard and `GET /admin/incident/status` show). */
export interface IncidentStatus {
  lockdown: { mode: LockdownMode; since?: string; reason?: string; actor?: string };
  signingKid?: string;
  keys: KeyStatus[];
  /** Every token issued at or before it is revoked (revoke-before), ISO 8601. */
  revokedBefore?: string;
  store: string;
}

/** Who did it and why: recorded with every action (events and logs). */
export interface IncidentActor {
  reason: string;
  /** An admin's sub, `cli:<user>`, `system`... */
  actor?: string;
}

/** A signing-key rotation as `IncidentService.rotateKey()` answers it. */
export interface KeyRotation {
  kid: string;
  previousKid?: string;
  algorithm: string;
}

const OFF: LockdownState = { mode: 'off', sinceMs: 0 };
/** How long a rotation holds the ring's lock, ms: its key is made and stored well within it. */
const ROTATION_LOCK_MS = 10_000;
/** How long the outcome of a rotation stays readable by the calls (on other instances) that joined it, ms. */
const ROTATION_OUTCOME_MS = 60_000;
/** Waiting for another instance's rotation: the first and the longest pause between two looks, ms. */
const ROTATION_POLL_FIRST_MS = 10;
const ROTATION_POLL_MAX_MS = 100;

/**
 * The incident-response toolkit, one screen, and the one facade of incident actions (the `jwt-defense` CLI takes the
 * same actions on Redis, with the same rules: `RevocationPolicy`):
 *
 * - contain: `revokeToken`, `revokeSession`, `revokeUser`, `revokeBefore(t)` (everything issued at or before t),
 *   `setLockdown('step-up' | 'deny-non-admin' | 'off')`;
 * - eradicate: `rotateKey()` (a new key signs on every instance, the old one stays in the JWKS to verify),
 *   `retireKey(kid)` (its tokens refused; the signing key is refused with 409: rotate first);
 * - learn: `exportEvents()` (NDJSON for a post-mortem), `status()`.
 *
 * Every action is a security event (`global_revoked`, `key_rotated`, `key_retired`, `lockdown_changed`...) with its
 * actor and reason, and a structured log line. Global measures travel through the store's global state, which every
 * instance re-reads every `revocation.globalStateRefreshMs` and applies from memory (no store call per request); the
 * instance that acted applies them at once.
 * @hideconstructor
 */
@Injectable()
export class IncidentService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('JwtDefense');
  private lockdownState: LockdownState = OFF;
  private readonly adminRoles: ReadonlySet<string>;
  private readonly kek?: Buffer;
  private keysVersion = -1;
  private applying: Promise<void> = Promise.resolve();
  private subscription?: Subscription;
  private readonly reported = new Set<string>();
  private readonly ringLimits: KeyRingLimits;
  private rotation?: Promise<KeyRotation>;

  constructor(
    options: IncidentOptions,
    private readonly revocation: RevocationService,
    private readonly tokens: TokenService,
    @Inject(GlobalStateStore) private readonly globalStore: GlobalStateStore,
    @Inject(KeyRingStore) private readonly keyStore: KeyRingStore,
    @Inject(RevocationStore) private readonly revocations: RevocationStore,
    private readonly policy: RevocationPolicy,
    private readonly events: SecurityEventService,
    private readonly clock: DefenseClock,
    private readonly lifecycle: DefenseStoreLifecycle,
    private readonly epochs: EpochClock,
    @Inject(KNOWN_ISSUERS) private readonly issuers: KnownIssuers,
    @Optional() @Inject(DEFENSE_METRICS) private readonly metrics?: DefenseMetricsSink,
  ) {
    this.adminRoles = new Set(options.adminRoles);
    this.ringLimits = { maxKeys: options.maxRotatedKeys, retireAfterMs: policy.rotatedKeyRetireAfterMs };
    if (options.keyEncryptionKey !== undefined) this.kek = keyEncryptionKeyFrom(options.keyEncryptionKey);
    // One process, one memory store: a rotated key never leaves the process, so a random KEK will do.
    else if (lifecycle.store.kind === 'memory') this.kek = randomBytes(32);
  }

  async onModuleInit(): Promise<void> {
    await this.lifecycle.ready();
    const configured = this.tokens.signingKid;
    this.subscription = this.revocation.globalState$.subscribe((state) => void this.apply(state));
    try {
      if (configured !== undefined) await this.globalStore.declareSigningKid(configured);
      await this.declareIssuers();
      await this.apply(await this.globalStore.readGlobalState());
    } catch (error) {
      // Boot anyway: the background refresh applies the global state once the store answers.
      this.logger.warn(`incident state not read at boot: ${(error as Error).message}`);
    }
  }

  onModuleDestroy(): void {
    this.subscription?.unsubscribe();
  }

  // ---- contain -------------------------------------------------------------------------------------------------

  /** Denylists one token (`sub` needed for a jti that is not one of ours, with `iss` for an external issuer's). */
  revokeToken(jti: string, options: RevokeTokenOptions): Promise<boolean> {
    return this.revocation.revoke(jti, options);
  }

  /** Kills a refresh family and every access token minted from it. */
  revokeSession(sub: string, sid: string, { reason, actor }: IncidentActor): Promise<boolean> {
    return this.revocation.revokeSession(sub, sid, reason, actor);
  }

  /**
   * Every token and session of `sub` issued up to now, in O(1): the user's not-before epoch (no list of tokens to
   * walk). A token issued after it, even in the same second, stays valid (our jtis carry their issue time in ms).
   * `iss`: the user's issuer, one of `issuers` for an external user (default: this module's own; another, or an own
   * `sub` with a control character: `InvalidRequestException`, 400).
   */
  async revokeUser(sub: string, { reason, actor, iss }: IncidentActor & { iss?: string }): Promise<{ notBeforeMs: number }> {
    const user = this.revocation.userNamed(sub, iss);
    // The store's clock (Redis TIME), the one logins are dated with: see EpochClock.
    const nowMs = await this.epochs.nowMs();
    const notBeforeMs = await this.revocations.raiseUserNotBefore(user.tag, user.subject, nowMs, this.policy.userEpochTtlMs);
    this.events.record(...incidentEvents.userRevoked(sub, reason, { actor, iss: this.revocation.externalIssuer(iss) }));
    return { notBeforeMs };
  }

  /** Every token of everyone issued at or before `at` (default now; never later than now: 400). */
  async revokeBefore(at: Date | number | undefined, { reason, actor }: IncidentActor): Promise<{ notBeforeMs: number }> {
    // "Now" is the store's clock (Redis TIME), the one logins are dated with: see EpochClock.
    const nowMs = await this.epochs.nowMs();
    const atMs = at === undefined ? nowMs : Number(at);
    if (!Number.isFinite(atMs) || atMs > nowMs || atMs < 0) throw new InvalidRequestException();
    const notBeforeMs = await this.globalStore.raiseGlobalNotBefore(atMs);
    this.revocation.applyGlobal({ notBeforeMs });
    this.events.record(...incidentEvents.globalRevoked(notBeforeMs, reason, actor));
    this.audit('revoked every token issued before', { notBefore: new Date(notBeforeMs).toISOString(), actor, reason });
    return { notBeforeMs };
  }

  /**
   * Sets the lockdown of the whole API: `step-up` (every token authenticated at or before now answers 401
   * `insufficient_user_authentication` until a new login), `deny-non-admin` (403 `lockdown` unless the principal has
   * one of `incident.adminRoles`), or `off`. At once here, within `globalStateRefreshMs` on every other instance.
   */
  async setLockdown(mode: LockdownMode, { reason, actor }: IncidentActor): Promise<LockdownState> {
    const previous = this.lockdownState.mode;
    const state: LockdownState = { mode, sinceMs: Math.max(await this.epochs.nowMs(), this.lockdownState.sinceMs), reason, ...(actor ? { actor } : {}) };
    await this.globalStore.setLockdown(state);
    this.useLockdown(state);
    this.events.record(...incidentEvents.lockdownChanged(mode, previous, reason, actor || undefined));
    this.audit('lockdown changed', { mode, previous, actor, reason });
    return state;
  }

  /** The lockdown in force on this instance. */
  get lockdown(): Readonly<LockdownState> {
    return this.lockdownState;
  }

  /** What the lockdown asks of a verified token (from memory: no store call). */
  lockdownVerdict(principal: AccessTokenPrincipal, authenticatedAtMs: number): LockdownVerdict {
    const { mode, sinceMs } = this.lockdownState;
    if (mode === 'step-up') return authenticatedAtMs <= sinceMs ? 'step-up' : undefined;
    if (mode === 'deny-non-admin') return principal.roles.some((role) => this.adminRoles.has(role)) ? undefined : 'deny';
    return undefined;
  }

  // ---- eradicate -----------------------------------------------------------------------------------------------

  /**
   * Makes a new signing key of the current key's family, stores it sealed under `incident.keyEncryptionKey`, and
   * makes it the signing key of every instance (at once here, within `globalStateRefreshMs` elsewhere). The previous
   * key keeps verifying and stays in the JWKS until it is retired.
   *
   * One rotation at a time across instances (a lock in the store): calls made while one is under way, here or on
   * another instance, join it and answer its `kid`; a call made after a rotation answered always makes a new key.
   * The store keeps `incident.maxRotatedKeys` rotated keys: beyond it the oldest is retired (event `key_retired`) when
   * none of its tokens can still be valid, else the rotation is refused with `KeyRingFullException` (409
   * `key_ring_full`).
   */
  rotateKey(actor: IncidentActor): Promise<KeyRotation> {
    const running = this.rotation;
    if (running) {
      return running.then((rotation) => {
        this.audit('signing key rotation joined', { kid: rotation.kid, actor: actor.actor, reason: actor.reason });
        return rotation;
      });
    }
    // Cleared before its callers hear the answer: a call made after that starts a rotation of its own.
    this.rotation = this.rotateOnce(actor).finally(() => {
      this.rotation = undefined;
    });
    return this.rotation;
  }

  private async rotateOnce(actor: IncidentActor): Promise<KeyRotation> {
    // The next key takes the algorithms of the one that signs now (none: a provider-only API has nothing to rotate).
    const { algorithms } = this.tokens.signingKeyOrThrow();
    const kek = this.kek;
    if (!kek) {
      throw new TypeError('jwt-defense: rotating the signing key on a shared store needs incident.keyEncryptionKey (32 bytes, the same on every instance)');
    }
    const flight = randomBytes(12).toString('base64url');
    const deadlineMs = this.clock.nowMs() + 3 * ROTATION_LOCK_MS;
    for (;;) {
      const holder = await this.keyStore.lockKeyRotation(flight, ROTATION_LOCK_MS);
      if (holder === undefined) return this.rotateAsLeader(flight, kek, [...algorithms], actor);
      const outcome = await this.rotationOf(holder, deadlineMs);
      // undefined: its caller gave up (the lock ran out without a rotation): try to rotate again.
      if (outcome) return this.joinRotation(outcome, actor);
    }
  }

  private async rotateAsLeader(flight: string, kek: Buffer, algorithms: JwtAlgorithm[], { reason, actor }: IncidentActor): Promise<KeyRotation> {
    const nowMs = this.clock.nowMs();
    const kid = newRotatedKid(nowMs);
    const stored = sealSigningKey(kek, kid, algorithms, await generateKeyFor(algorithms), nowMs);
    const outcome = await this.keyStore.commitKeyRotation(flight, stored, this.tokens.signingKid, this.ringLimits, ROTATION_OUTCOME_MS);
    if (!outcome.rotated) throw this.ringFull(outcome, { reason, actor });
    this.tokens.addKey(openSigningKey(kek, stored));
    this.tokens.useSigningKey(kid);
    await this.adoptRotation(outcome);
    for (const retired of outcome.retiredKids) {
      this.events.record('key_retired', { reason: 'key_ring_cap', details: { kid: retired, rotation_kid: kid, ...(actor ? { actor } : {}) } });
      this.audit('rotated key retired to keep the key ring\'s size', { kid: retired, actor, reason });
    }
    const { previousKid } = outcome;
    const details = { kid, algorithm: algorithms[0], ...(previousKid ? { previous_kid: previousKid } : {}), ...(actor ? { actor } : {}) };
    this.events.record('key_rotated', { reason, details });
    this.audit('signing key rotated', { kid, previousKid, actor, reason });
    return { kid, previousKid, algorithm: algorithms[0] };
  }

  /** The outcome of another caller's rotation, once it is committed; `undefined` when that caller gave up. */
  private async rotationOf(flight: string, deadlineMs: number): Promise<KeyRotationOutcome | undefined> {
    for (let pauseMs = ROTATION_POLL_FIRST_MS; ; pauseMs = Math.min(2 * pauseMs, ROTATION_POLL_MAX_MS)) {
      const outcome = await this.keyStore.keyRotationOutcome(flight);
      if (outcome !== 'pending') return outcome;
      if (this.clock.nowMs() > deadlineMs) throw new DefenseStoreError('a signing-key rotation of another instance did not finish in time');
      await sleep(pauseMs);
    }
  }

  private async joinRotation(outcome: KeyRotationOutcome, { reason, actor }: IncidentActor): Promise<KeyRotation> {
    if (!outcome.rotated) throw this.ringFull(outcome, { reason, actor });
    await this.adoptRotation(outcome);
    this.audit('signing key rotation joined', { kid: outcome.kid, actor, reason });
    return { kid: outcome.kid, previousKid: outcome.previousKid, algorithm: outcome.algorithm };
  }

  /** Applies a committed rotation here at once: the new signing key, and the rotated keys it retired. */
  private async adoptRotation(outcome: Extract<KeyRotationOutcome, { rotated: true }>): Promise<void> {
    for (const kid of outcome.retiredKids) this.tokens.unpublish(kid);
    // The refresh hands the state to `apply` (through globalState$) and to the revocation layer's retired kids.
    await this.revocation.refreshGlobalState();
    await this.applying;
  }

  private ringFull(outcome: Extract<KeyRotationOutcome, { rotated: false }>, { reason, actor }: IncidentActor): KeyRingFullException {
    this.audit('signing key rotation refused: the key ring is full', {
      maxRotatedKeys: String(this.ringLimits.maxKeys),
      retryAfterSec: String(Math.ceil(outcome.retryAfterMs / 1000)),
      actor,
      reason,
    });
    return new KeyRingFullException();
  }

  /**
   * Refuses every token signed with `kid` (a leaked key), on every instance, and takes it out of the JWKS. The key that
   * signs new tokens (on any instance: checked atomically by the store) is refused with `SigningKeyActiveException`
   * (409 `signing_key_active`): rotate first.
   */
  async retireKey(kid: string, { reason, actor }: IncidentActor): Promise<{ kid: string }> {
    const nowMs = this.clock.nowMs();
    const signingKid = this.tokens.signingKid;
    if (signingKid === kid || !(await this.globalStore.retireKid(kid, nowMs, signingKid))) throw new SigningKeyActiveException(kid);
    this.revocation.applyGlobal({ retiredKids: { [kid]: nowMs } });
    this.events.record(...incidentEvents.keyRetired(kid, reason, actor));
    this.tokens.unpublish(kid);
    this.audit('key retired', { kid, actor, reason });
    return { kid };
  }

  // ---- learn ---------------------------------------------------------------------------------------------------

  /** Events for a post-mortem as NDJSON, oldest first (one JSON object per line), at most `limit` (1000). */
  async exportEvents(query: { type?: SecurityEventType; sub?: string; sinceMs?: number; limit?: number } = {}): Promise<string> {
    const events: SecurityEvent[] = await this.events.list({ ...query, limit: query.limit ?? 1000 });
    return events.reverse().map(toNdjsonLine).join('');
  }

  /** This instance's view: lockdown, keys (no material), the revoke-everything epoch. */
  status(): IncidentStatus {
    const retired = this.revocation.retiredKids;
    const lockdown = this.lockdownState;
    return {
      lockdown: {
        mode: lockdown.mode,
        ...(lockdown.sinceMs > 0 ? { since: new Date(lockdown.sinceMs).toISOString() } : {}),
        ...(lockdown.reason ? { reason: lockdown.reason } : {}),
        ...(lockdown.actor ? { actor: lockdown.actor } : {}),
      },
      signingKid: this.tokens.signingKid,
      keys: this.tokens.describeKeys().map((key) => ({
        kid: key.kid,
        algorithms: key.algorithms,
        signing: key.signing,
        published: key.published,
        ...(retired[key.kid] !== undefined ? { retiredAt: new Date(retired[key.kid]).toISOString() } : {}),
      })),
      ...(this.revocation.globalNotBeforeMs > 0 ? { revokedBefore: new Date(this.revocation.globalNotBeforeMs).toISOString() } : {}),
      store: this.lifecycle.store.kind,
    };
  }

  // ---- the global state ----------------------------------------------------------------------------------------

  /** Applies a global state read from the store (serialized: one application at a time). */
  private apply(state: GlobalDefenseState): Promise<void> {
    this.applying = this.applying.then(() => this.applyNow(state)).catch((error: unknown) => {
      this.logger.warn(`incident state not applied: ${(error as Error).message}`);
    });
    return this.applying;
  }

  private async applyNow(state: GlobalDefenseState): Promise<void> {
    this.useLockdown(state.lockdown ?? OFF);
    // Gone from the store (a flushed Redis): declared again, so the CLI can still check an --issuer. A failed write
    // never keeps the rest of the state from being applied.
    if (state.declaredIssuers === undefined) {
      await this.declareIssuers().catch((error: unknown) => this.reportOnce('declare-issuers', `issuers not declared in the store (the CLI cannot check an --issuer): ${(error as Error).message}`));
    }
    for (const kid of Object.keys(state.retiredKids)) this.tokens.unpublish(kid);
    if ((state.keysVersion ?? 0) !== this.keysVersion) {
      await this.loadRotatedKeys();
      this.keysVersion = state.keysVersion ?? 0;
    }
    const wanted = state.signingKid;
    if (wanted === undefined || wanted === this.tokens.signingKid) return;
    if (this.tokens.describeKeys().some((key) => key.kid === wanted && key.canSign)) this.tokens.useSigningKey(wanted);
    else this.reportOnce(`signing:${wanted}`, `the signing key chosen by the last rotation (${wanted}) cannot be opened here: this instance keeps signing with ${this.tokens.signingKid}; give it the same incident.keyEncryptionKey as the others`);
  }

  /** This instance's issuers, for the `jwt-defense` CLI (which does not know the options) to check an `--issuer` against. */
  private async declareIssuers(): Promise<void> {
    await this.globalStore.declareIssuers?.({ ...(this.issuers.own === undefined ? {} : { own: this.issuers.own }), external: [...(this.issuers.external ?? [])] });
  }

  private async loadRotatedKeys(): Promise<void> {
    const known = new Set(this.tokens.describeKeys().map((key) => key.kid));
    for (const stored of await this.keyStore.listSigningKeys()) {
      if (known.has(stored.kid)) continue;
      if (!this.kek) {
        this.reportOnce('no-kek', 'the store holds rotated signing keys but incident.keyEncryptionKey is not set: their tokens are refused here');
        return;
      }
      try {
        this.tokens.addKey(openSigningKey(this.kek, stored));
      } catch (error) {
        this.reportOnce(`open:${stored.kid}`, `rotated key ${stored.kid} not trusted: ${(error as Error).message}`);
      }
    }
  }

  private useLockdown(state: LockdownState): void {
    const current = this.lockdownState;
    if (state.sinceMs < current.sinceMs || (state.sinceMs === current.sinceMs && state.mode === current.mode)) return;
    this.lockdownState = { ...state };
    if (state.mode !== current.mode) this.metrics?.lockdownMode?.(state.mode);
  }

  private reportOnce(key: string, message: string): void {
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.logger.error(message);
  }

  /** A structured audit line (never key material, tokens or secrets). */
  private audit(message: string, fields: Record<string, string | undefined>): void {
    const defined = Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
    this.logger.log({ message: `incident: ${message}`, ...defined });
  }
}

import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { Subject, type Observable } from 'rxjs';
import { DefenseClock } from '../common/defense-clock.js';
import { DefenseScheduler } from '../common/defense-scheduler.js';
import { EpochClock } from '../common/epoch-clock.js';
import { InvalidRequestException, SigningKeyActiveException, SubjectRequiredException } from '../errors/defense.exceptions.js';
import { SecurityEventService } from '../events/security-event.service.js';
import { TOKEN_LIFETIMES, type TokenLifetimes } from '../jwt-defense.tokens.js';
import { DefenseStoreLifecycle } from '../store/defense-store.provider.js';
import {
  GlobalStateStore,
  RevocationStore,
  SessionStore,
  type CleanupReport,
  type GlobalDefenseState,
  type RevocationRecord,
} from '../store/defense-store.ports.js';
import { externalSubjectKey, hasControlCharacter, parseOwnJti, userTag } from '../token/token-ids.js';
import type { RevocationFacts } from './revocation.check-part.js';
import { RevocationOptions } from './revocation.options.js';

export interface RevokeTokenOptions {
  /** Why (kept with the entry and in the event log). */
  reason: string;
  /** The token's `exp` as a Date or epoch ms; the entry lives until then plus the grace. Default: the longest a token could still live. */
  expiresAt?: Date | number;
  /**
   * The token's subject. Optional for tokens issued by this TokenService (their jti carries the user tag and a
   * check); required for any other jti, or `SubjectRequiredException` (400 `subject_required`) is thrown.
   */
  sub?: string;
  /**
   * The token's issuer, for a token of an external issuer (one of `issuers`; with its `sub`): its users' state is
   * keyed by issuer and subject. Default: this module's own issuer. Another issuer: `InvalidRequestException` (400).
   */
  iss?: string;
  /** Who revoked (an admin's sub, `system`...). */
  actor?: string;
}

const GLOBAL_REFRESH = 'jwt-defense:global-state';

/** Why the revocation layer refuses a token: its jti, its session, its user's epoch, a global measure, its key. */
export type RevocationVerdict = 'jti' | 'session' | 'user' | 'global' | 'key' | undefined;

/**
 * Layer 5: revocation at the resource server.
 *
 * - `revoke(jti)`: a denylist entry with reason and actor, whose TTL ends with the token's life (+ grace).
 * - `revokeAllForUser(sub, reason, actor?, iss?)`: O(1), raises the user's not-before epoch (no list of tokens to
 *   walk); `iss` names an external issuer's user (default: this module's own).
 * - `revokeAllIssuedBefore(t)`, `retireKey(kid)`: incident measures, read by every instance within
 *   `globalStateRefreshMs` (at once on the instance that made them).
 * The per-request check is `RevocationStage`, inside the pipeline's ONE store call.
 */
@Injectable()
export class RevocationService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('JwtDefense');
  private global: GlobalDefenseState = { notBeforeMs: 0, retiredKids: {} };
  private readonly refreshed = new Subject<GlobalDefenseState>();
  /** The global state as read from the store by each background refresh (lockdown and rotated keys ride on it). */
  readonly globalState$: Observable<GlobalDefenseState> = this.refreshed.asObservable();

  constructor(
    @Inject(RevocationStore) private readonly store: RevocationStore,
    @Inject(GlobalStateStore) private readonly globalStore: GlobalStateStore,
    @Inject(SessionStore) private readonly sessions: SessionStore,
    private readonly options: RevocationOptions,
    @Inject(TOKEN_LIFETIMES) private readonly lifetimes: TokenLifetimes,
    private readonly events: SecurityEventService,
    private readonly clock: DefenseClock,
    private readonly scheduler: DefenseScheduler,
    private readonly lifecycle: DefenseStoreLifecycle,
    private readonly epochs: EpochClock,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.lifecycle.ready();
    await this.refreshGlobalState();
    this.scheduler.interval(GLOBAL_REFRESH, this.options.globalStateRefreshMs, async () => {
      await this.refreshGlobalState();
      await this.events.flushPending();
    });
  }

  onModuleDestroy(): void {
    this.scheduler.remove(GLOBAL_REFRESH);
  }

  /**
   * The verdict of the global measures (a retired `kid`, revoke everything before T) for a token signed by
   * `kid` and authenticated at `authenticatedAtMs` (see `authenticatedAtMs()`), from memory: no store call.
   */
  globalVerdict(kid: string, authenticatedAtMs: number): RevocationVerdict {
    if (this.global.retiredKids[kid] !== undefined) return 'key';
    if (authenticatedAtMs <= this.global.notBeforeMs) return 'global';
    return undefined;
  }

  /** The verdict of the per-user state read by the request's store call (its revocation part). */
  storeVerdict(result: RevocationFacts, authenticatedAtMs: number): RevocationVerdict {
    if (result.jtiRevoked) return 'jti';
    if (result.sessionRevoked) return 'session';
    if (authenticatedAtMs <= result.userNotBeforeMs) return 'user';
    return undefined;
  }

  /** The retired kids this instance knows (kid → epoch ms). */
  get retiredKids(): Readonly<Record<string, number>> {
    return this.global.retiredKids;
  }

  /** The global revoke-everything epoch this instance knows, epoch ms (0: never set). */
  get globalNotBeforeMs(): number {
    return this.global.notBeforeMs;
  }

  /** True when a session created at `createdAtMs` is covered by the global revoke-everything epoch. */
  isSessionCoveredByGlobalEpoch(createdAtMs: number): boolean {
    return createdAtMs <= this.global.notBeforeMs;
  }

  /** Puts a token on the denylist. Returns false when it already was. */
  async revoke(jti: string, options: RevokeTokenOptions): Promise<boolean> {
    const tag = this.tagOf(jti, options.sub, options.iss);
    const nowMs = this.clock.nowMs();
    const expiresAtMs = options.expiresAt === undefined ? this.latestExpiryMs(jti, nowMs) : Number(options.expiresAt);
    const record: RevocationRecord = { jti, reason: options.reason, revokedAtMs: nowMs, actor: options.actor, sub: options.sub };
    const ttlMs = Math.max(expiresAtMs - nowMs, 0) + this.options.graceSec * 1000;
    const added = await this.store.revokeToken(tag, record, ttlMs);
    if (added) {
      this.events.record('token_revoked', { jti, sub: options.sub, reason: options.reason, details: { ...this.actor(options.actor), ...this.issuerDetail(options.iss) } });
    }
    return added;
  }

  /** Whether a jti is on the denylist (`sub`, and `iss` for an external issuer's token, as for `revoke`). */
  async isRevoked(jti: string, sub?: string, iss?: string): Promise<boolean> {
    return (await this.getRevocationInfo(jti, sub, iss)) !== undefined;
  }

  /** What the denylist holds about a jti: reason, time (epoch ms), actor (`sub` and `iss` as for `revoke`). */
  async getRevocationInfo(jti: string, sub?: string, iss?: string): Promise<RevocationRecord | undefined> {
    return this.store.getRevocation(this.tagOf(jti, sub, iss), jti);
  }

  /**
   * Revokes every token and refresh session of `sub` issued up to now, in O(1). A token issued after it, even
   * in the same second, stays valid (our jtis carry their issue time in ms). `iss`: the user's issuer, one of
   * `issuers` for an external user (default this module's own; another: `InvalidRequestException`, 400).
   */
  async revokeAllForUser(sub: string, reason: string, actor?: string, iss?: string): Promise<{ notBeforeMs: number }> {
    const subject = this.subjectOf(sub, iss);
    // The store's clock (Redis TIME), the one logins are dated with: see EpochClock.
    const nowMs = await this.epochs.nowMs();
    // The epoch must outlive every token and session it covers.
    const lifetimeSec = Math.max(this.lifetimes.refreshTokenTtlSec, this.lifetimes.maxAccessTokenTtlSec) + this.lifetimes.clockToleranceSec;
    const ttlMs = (lifetimeSec + this.options.graceSec) * 1000;
    const notBeforeMs = await this.store.raiseUserNotBefore(userTag(subject), subject, nowMs, ttlMs);
    this.events.record('user_revoked', { sub, reason, details: { ...this.actor(actor), ...this.issuerDetail(iss) } });
    return { notBeforeMs };
  }

  /**
   * How long a revoked session is kept as revoked, ms: until every access token it may have minted has expired (its
   * refresh token is then unknown, refused all the same). Bounds what revoked sessions hold in the store.
   */
  get revokedSessionRetainMs(): number {
    return (this.lifetimes.maxAccessTokenTtlSec + this.lifetimes.clockToleranceSec + this.options.graceSec) * 1000;
  }

  /** Revokes the refresh session `sid` of `sub` and every access token minted from it. */
  async revokeSession(sub: string, sid: string, reason: string, actor?: string): Promise<boolean> {
    const revoked = await this.sessions.revokeSession(userTag(sub), sid, reason, this.revokedSessionRetainMs);
    if (revoked) this.events.record('session_revoked', { sub, reason, details: { sid, ...this.actor(actor) } });
    return revoked;
  }

  /** Incident: every token issued at or before `at` is refused, by every instance. */
  async revokeAllIssuedBefore(at: Date | number, reason: string, actor?: string): Promise<{ notBeforeMs: number }> {
    const notBeforeMs = await this.globalStore.raiseGlobalNotBefore(Number(at));
    this.global = { ...this.global, notBeforeMs: Math.max(this.global.notBeforeMs, notBeforeMs) };
    this.events.record('global_revoked', { reason, details: { notBefore: new Date(notBeforeMs).toISOString(), ...this.actor(actor) } });
    return { notBeforeMs };
  }

  /**
   * Incident: refuse every token signed with `kid` (a leaked key). The key that signs new tokens (on any instance:
   * checked atomically by the store) is refused with `SigningKeyActiveException` (409): rotate first.
   */
  async retireKey(kid: string, reason: string, actor?: string): Promise<void> {
    const nowMs = this.clock.nowMs();
    if (this.lifetimes.signingKid === kid || !(await this.globalStore.retireKid(kid, nowMs, this.lifetimes.signingKid))) {
      throw new SigningKeyActiveException(kid);
    }
    this.global = { ...this.global, retiredKids: { ...this.global.retiredKids, [kid]: nowMs } };
    this.events.record('key_retired', { reason, details: { kid, ...this.actor(actor) } });
  }

  /** Removes expired entries within the configured budget (the scheduled cleanup job calls this). */
  async cleanupExpired(): Promise<CleanupReport> {
    return this.lifecycle.store.cleanupExpired(this.options.cleanupBudgetMs);
  }

  /** Re-reads the global state; keeps the last known one when the store is down. */
  async refreshGlobalState(): Promise<void> {
    try {
      const state = await this.globalStore.readGlobalState();
      this.global = {
        notBeforeMs: Math.max(this.global.notBeforeMs, state.notBeforeMs),
        retiredKids: { ...this.global.retiredKids, ...state.retiredKids },
      };
      this.refreshed.next(state);
    } catch (error) {
      this.logger.warn(`global revocation state not refreshed: ${(error as Error).message}`);
    }
  }

  /**
   * The key of a user's state (see `subjectKey`). This module's own subjects never hold a control character (a
   * caller naming one would reach an external user's state); an issuer must be this module's or a configured one.
   */
  private subjectOf(sub: string, iss: string | undefined): string {
    const own = this.lifetimes.issuer;
    if (iss === undefined || iss === own) {
      if (hasControlCharacter(sub)) throw new InvalidRequestException();
      return sub;
    }
    if (!this.lifetimes.externalIssuers?.includes(iss)) throw new InvalidRequestException();
    return externalSubjectKey(iss, sub);
  }

  private tagOf(jti: string, sub: string | undefined, iss: string | undefined): string {
    if (sub !== undefined) return userTag(this.subjectOf(sub, iss));
    // Only this module's jtis carry their user: an external issuer's token needs its subject.
    if (iss !== undefined && iss !== this.lifetimes.issuer) throw new SubjectRequiredException();
    const own = parseOwnJti(jti);
    // Not provably ours: recording it under a guessed user would be a silent no-op.
    if (!own) throw new SubjectRequiredException();
    return own.tag;
  }

  /** Without the token's exp: ours expire at most maxAccessTokenTtl after their embedded issue time. */
  private latestExpiryMs(jti: string, nowMs: number): number {
    const maxLifeMs = (this.lifetimes.maxAccessTokenTtlSec + this.lifetimes.clockToleranceSec) * 1000;
    const own = parseOwnJti(jti);
    return own ? Math.min(own.issuedAtMs + maxLifeMs, nowMs + maxLifeMs) : nowMs + maxLifeMs;
  }

  private actor(actor: string | undefined): Record<string, string> {
    return actor === undefined ? {} : { actor };
  }

  private issuerDetail(iss: string | undefined): Record<string, string> {
    return iss === undefined || iss === this.lifetimes.issuer ? {} : { iss };
  }
}

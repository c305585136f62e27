import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { DefenseClock } from '../common/defense-clock.js';
import { SecurityEventService } from '../events/security-event.service.js';
import { JWT_DEFENSE_OPTIONS } from '../jwt-defense.tokens.js';
import type { ResolvedJwtDefenseOptions } from '../jwt-defense.options.js';
import { DefenseStoreLifecycle } from '../store/defense-store.provider.js';
import type { RateLimitResult } from '../throttling/rate-limit.js';
import { DefenseStore, type UserRateLimitRequest, type CleanupReport, type GlobalDefenseState, type RevocationRecord } from '../store/defense-store.interface.js';
import type { AccessTokenPrincipal } from '../token/access-token-claims.js';
import { issuedAtMs, parseOwnJti, userTag } from '../token/token-ids.js';

export interface RevokeTokenOptions {
  /** Why (kept with the entry and in the event log). */
  reason: string;
  /** The token's `exp` as a Date or epoch ms; the entry lives until then plus the grace. Default: the longest a token could still live. */
  expiresAt?: Date | number;
  /** The token's subject. Optional for tokens issued by this TokenService (their jti carries the user tag). */
  sub?: string;
  /** Who revoked (an admin's sub, `system`...). */
  actor?: string;
}

/** Why a token is refused by the revocation layer, or `undefined` when it is active. */
export type RevocationVerdict = 'jti' | 'session' | 'user' | 'global' | 'key' | undefined;

const GLOBAL_REFRESH = 'jwt-defense:global-state';
const UNAVAILABLE_EVENT_EVERY_MS = 5000;

/** The per-request verdict: revocation, and the user's rate-limit counter when one was asked for. */
export interface RequestVerdict {
  revoked: RevocationVerdict;
  userRate?: RateLimitResult;
}

/**
 * Layer 5: revocation at the resource server.
 *
 * - `revoke(jti)`: a denylist entry with reason and actor, whose TTL ends with the token's life (+ grace).
 * - `revokeAllForUser(sub)`: O(1), raises the user's not-before epoch (no list of tokens to walk).
 * - `revokeAllIssuedBefore(t)`, `retireKey(kid)`: incident measures, read by every instance within
 *   `globalStateRefreshMs` (at once on the instance that made them).
 * - `check(principal)`: the per-request verdict, ONE store round trip.
 */
@Injectable()
export class RevocationService implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('JwtDefense');
  private global: GlobalDefenseState = { notBeforeMs: 0, retiredKids: {} };
  private readonly tags = new WeakMap<AccessTokenPrincipal, string>();

  constructor(
    @Inject(DefenseStore) private readonly store: DefenseStore,
    @Inject(JWT_DEFENSE_OPTIONS) private readonly options: ResolvedJwtDefenseOptions,
    private readonly events: SecurityEventService,
    private readonly clock: DefenseClock,
    private readonly scheduler: SchedulerRegistry,
    private readonly lifecycle: DefenseStoreLifecycle,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.lifecycle.ready();
    await this.refreshGlobalState();
    const handle = setInterval(() => {
      void this.refreshGlobalState().then(() => this.events.flushPending());
    }, this.options.revocation.globalStateRefreshMs);
    handle.unref();
    this.scheduler.addInterval(GLOBAL_REFRESH, handle);
  }

  onModuleDestroy(): void {
    if (this.scheduler.doesExist('interval', GLOBAL_REFRESH)) this.scheduler.deleteInterval(GLOBAL_REFRESH);
  }

  /**
   * The per-request verdict for a verified token: global measures from memory, then one store call for
   * the jti denylist, the session and the user epoch. Throws `DefenseStoreError` when the store is down.
   */
  async check(principal: AccessTokenPrincipal): Promise<RevocationVerdict> {
    return (await this.checkRequest(principal)).revoked;
  }

  /**
   * `check`, plus a hit on the user's rate limit in the same store call (the guard uses this). A token
   * refused by a global measure costs no store call at all.
   */
  async checkRequest(principal: AccessTokenPrincipal, userRate?: Omit<UserRateLimitRequest, 'nowMs'>): Promise<RequestVerdict> {
    if (this.global.retiredKids[principal.kid] !== undefined) return { revoked: 'key' };
    // Verified principals are cached per token: hash each one's sub once, not on every request.
    let tag = this.tags.get(principal);
    if (tag === undefined) {
      tag = userTag(principal.sub);
      this.tags.set(principal, tag);
    }
    const issuedMs = issuedAtMs(principal, tag);
    if (issuedMs <= this.global.notBeforeMs) return { revoked: 'global' };
    const state = await this.store.check({
      tag,
      sub: principal.sub,
      jti: principal.jti,
      sid: principal.sid,
      userRate: userRate && { ...userRate, nowMs: this.clock.nowMs() },
    });
    let revoked: RevocationVerdict;
    if (state.jtiRevoked) revoked = 'jti';
    else if (state.sessionRevoked) revoked = 'session';
    else if (issuedMs <= state.userNotBeforeMs) revoked = 'user';
    return { revoked, userRate: state.userRate };
  }

  /** True when a session created at `createdAtMs` is covered by the global revoke-everything epoch. */
  isSessionCoveredByGlobalEpoch(createdAtMs: number): boolean {
    return createdAtMs <= this.global.notBeforeMs;
  }

  /** Puts a token on the denylist. Returns false when it already was. */
  async revoke(jti: string, options: RevokeTokenOptions): Promise<boolean> {
    const tag = this.tagOf(jti, options.sub);
    const nowMs = this.clock.nowMs();
    const expiresAtMs = options.expiresAt === undefined ? this.latestExpiryMs(jti, nowMs) : Number(options.expiresAt);
    const record: RevocationRecord = { jti, reason: options.reason, revokedAtMs: nowMs, actor: options.actor, sub: options.sub };
    const ttlMs = Math.max(expiresAtMs - nowMs, 0) + this.options.revocation.graceSec * 1000;
    const added = await this.store.revokeToken(tag, record, ttlMs);
    if (added) this.events.record('token_revoked', { jti, sub: options.sub, reason: options.reason, details: this.actor(options.actor) });
    return added;
  }

  async isRevoked(jti: string, sub?: string): Promise<boolean> {
    return (await this.getRevocationInfo(jti, sub)) !== undefined;
  }

  /** What the denylist holds about a jti: reason, time (epoch ms), actor. */
  async getRevocationInfo(jti: string, sub?: string): Promise<RevocationRecord | undefined> {
    return this.store.getRevocation(this.tagOf(jti, sub), jti);
  }

  /**
   * Revokes every token and refresh session of `sub` issued up to now, in O(1). A token issued after it, even
   * in the same second, stays valid (our jtis carry their issue time in ms).
   */
  async revokeAllForUser(sub: string, reason: string, actor?: string): Promise<{ notBeforeMs: number }> {
    const nowMs = this.clock.nowMs();
    // The epoch must outlive every token and session it covers.
    const lifetimeSec = Math.max(this.options.refreshTokenTtlSec, this.options.maxAccessTokenTtlSec) + this.options.clockToleranceSec;
    const ttlMs = (lifetimeSec + this.options.revocation.graceSec) * 1000;
    const notBeforeMs = await this.store.raiseUserNotBefore(userTag(sub), sub, nowMs, ttlMs);
    this.events.record('user_revoked', { sub, reason, details: this.actor(actor) });
    return { notBeforeMs };
  }

  /** Revokes the refresh session `sid` of `sub` and every access token minted from it. */
  async revokeSession(sub: string, sid: string, reason: string, actor?: string): Promise<boolean> {
    const revoked = await this.store.revokeSession(userTag(sub), sid, reason);
    if (revoked) this.events.record('session_revoked', { sub, reason, details: { sid, ...this.actor(actor) } });
    return revoked;
  }

  /** Incident: every token issued at or before `at` is refused, by every instance. */
  async revokeAllIssuedBefore(at: Date | number, reason: string, actor?: string): Promise<{ notBeforeMs: number }> {
    const notBeforeMs = await this.store.raiseGlobalNotBefore(Number(at));
    this.global = { ...this.global, notBeforeMs: Math.max(this.global.notBeforeMs, notBeforeMs) };
    this.events.record('global_revoked', { reason, details: { notBefore: new Date(notBeforeMs).toISOString(), ...this.actor(actor) } });
    return { notBeforeMs };
  }

  /** Incident: refuse every token signed with `kid` (a leaked key). Rotate `signingKid` away from it first. */
  async retireKey(kid: string, reason: string, actor?: string): Promise<void> {
    if (this.options.signingKey?.kid === kid) {
      throw new TypeError(`jwt-defense: kid "${kid}" still signs new tokens: switch signingKid to another key before retiring it`);
    }
    const nowMs = this.clock.nowMs();
    await this.store.retireKid(kid, nowMs);
    this.global = { ...this.global, retiredKids: { ...this.global.retiredKids, [kid]: nowMs } };
    this.events.record('key_retired', { reason, details: { kid, ...this.actor(actor) } });
  }

  /** Removes expired entries within the configured budget (the scheduled cleanup job calls this). */
  async cleanupExpired(): Promise<CleanupReport> {
    return this.store.cleanupExpired(this.options.revocation.cleanupBudgetMs);
  }

  /** Records that the store was unavailable, at most once per 5 s per instance (a flood must not flood the log). */
  noteStoreUnavailable(details: { failMode: string; ip?: string; layer?: string }): void {
    const layer = details.layer ?? 'revocation';
    this.events.recordSampled('store_unavailable', layer, { ip: details.ip, details: { failMode: details.failMode, layer } }, UNAVAILABLE_EVENT_EVERY_MS);
  }

  /** Re-reads the global state; keeps the last known one when the store is down. */
  async refreshGlobalState(): Promise<void> {
    try {
      const state = await this.store.readGlobalState();
      this.global = {
        notBeforeMs: Math.max(this.global.notBeforeMs, state.notBeforeMs),
        retiredKids: { ...this.global.retiredKids, ...state.retiredKids },
      };
    } catch (error) {
      this.logger.warn(`global revocation state not refreshed: ${(error as Error).message}`);
    }
  }

  private tagOf(jti: string, sub: string | undefined): string {
    if (sub !== undefined) return userTag(sub);
    const own = parseOwnJti(jti);
    if (!own) throw new TypeError('jwt-defense: pass the token\'s sub to revoke a jti that this TokenService did not issue');
    return own.tag;
  }

  /** Without the token's exp: ours expire at most maxAccessTokenTtl after their embedded issue time. */
  private latestExpiryMs(jti: string, nowMs: number): number {
    const maxLifeMs = (this.options.maxAccessTokenTtlSec + this.options.clockToleranceSec) * 1000;
    const own = parseOwnJti(jti);
    return own ? Math.min(own.issuedAtMs + maxLifeMs, nowMs + maxLifeMs) : nowMs + maxLifeMs;
  }

  private actor(actor: string | undefined): Record<string, string> {
    return actor === undefined ? {} : { actor };
  }
}

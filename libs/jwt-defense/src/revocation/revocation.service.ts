import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { Subject, type Observable } from 'rxjs';
import { DefenseClock } from '../common/defense-clock.js';
import { DefenseScheduler } from '../common/defense-scheduler.js';
import { InvalidRequestException, SubjectRequiredException } from '../errors/defense.exceptions.js';
import { SecurityEventService } from '../events/security-event.service.js';
import type { IncidentService } from '../incident/incident.service.js';
import { INCIDENT_FACADE, KNOWN_ISSUERS } from '../jwt-defense.tokens.js';
import { DefenseStoreLifecycle } from '../store/defense-store.provider.js';
import {
  GlobalStateStore,
  RevocationStore,
  SessionStore,
  type CleanupReport,
  type GlobalDefenseState,
  type RevocationRecord,
} from '../store/defense-store.ports.js';
import { namedUserIdentity, parseOwnJti, userIdentity, type KnownIssuers, type UserIdentity } from '../token/token-ids.js';
import { RevocationOptions } from './revocation.options.js';
import { globalVerdict, incidentEvents, RevocationPolicy, type RevocationVerdict } from './revocation.policy.js';

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

export type { RevocationVerdict } from './revocation.policy.js';

/**
 * Layer 5: revocation at the resource server, what requests and sessions need.
 *
 * - `revoke(jti)`: a denylist entry with reason and actor, whose TTL ends with the token's life (+ grace): logout.
 * - `revokeSession(sub, sid)`: a refresh family and its access tokens: logout, a subject gone.
 * - the global measures (revoke everything before T, retired kids) this instance knows, refreshed every
 *   `globalStateRefreshMs`, and their verdict from memory.
 * Incident actions (a user, everything before T, a key, the lockdown) are `IncidentService`'s. The rules (TTLs,
 * verdicts) are `RevocationPolicy`'s; the per-request check is `RevocationStage`, inside the pipeline's ONE store call.
 * @hideconstructor
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
    @Inject(KNOWN_ISSUERS) private readonly issuers: KnownIssuers,
    private readonly policy: RevocationPolicy,
    private readonly events: SecurityEventService,
    private readonly clock: DefenseClock,
    private readonly scheduler: DefenseScheduler,
    private readonly lifecycle: DefenseStoreLifecycle,
    private readonly moduleRef: ModuleRef,
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
    return globalVerdict(this.global, kid, authenticatedAtMs);
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

  /** Puts a token on the denylist (logout; for an incident, `IncidentService.revokeToken`). Returns false when it already was. */
  async revoke(jti: string, options: RevokeTokenOptions): Promise<boolean> {
    const tag = this.tagOf(jti, options.sub, options.iss);
    const nowMs = this.clock.nowMs();
    const iss = this.externalIssuer(options.iss);
    const expiresAtMs = options.expiresAt === undefined ? undefined : Number(options.expiresAt);
    const record: RevocationRecord = { jti, reason: options.reason, revokedAtMs: nowMs, actor: options.actor, sub: options.sub };
    const ttlMs = this.policy.denylistTtlMs({ jti, external: iss !== undefined, expiresAtMs }, nowMs);
    const added = await this.store.revokeToken(tag, record, ttlMs);
    if (added) this.events.record(...incidentEvents.tokenRevoked(jti, options.sub, options.reason, { actor: options.actor, iss }));
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
   * @deprecated Use `IncidentService.revokeUser(sub, { reason, actor, iss })`, the one facade of incident actions
   * (this delegates to it; removed in the next minor version).
   */
  async revokeAllForUser(sub: string, reason: string, actor?: string, iss?: string): Promise<{ notBeforeMs: number }> {
    return this.incident().revokeUser(sub, { reason, actor, iss });
  }

  /** Revokes the refresh session `sid` of `sub` and every access token minted from it (logout, a subject gone). */
  async revokeSession(sub: string, sid: string, reason: string, actor?: string): Promise<boolean> {
    const revoked = await this.sessions.revokeSession(userIdentity(sub).tag, sid, reason, this.policy.revokedSessionRetainMs);
    if (revoked) this.events.record(...incidentEvents.sessionRevoked(sub, sid, reason, actor));
    return revoked;
  }

  /**
   * @deprecated Use `IncidentService.revokeBefore(at, { reason, actor })` (this delegates to it, so a time later than
   * now is refused with 400 `invalid_request`; removed in the next minor version).
   */
  async revokeAllIssuedBefore(at: Date | number, reason: string, actor?: string): Promise<{ notBeforeMs: number }> {
    return this.incident().revokeBefore(at, { reason, actor });
  }

  /**
   * @deprecated Use `IncidentService.retireKey(kid, { reason, actor })` (this delegates to it; removed in the next
   * minor version).
   */
  async retireKey(kid: string, reason: string, actor?: string): Promise<void> {
    await this.incident().retireKey(kid, { reason, actor });
  }

  /**
   * Applies global measures taken on this instance at once (the background refresh brings them to the others):
   * a later revoke-everything epoch, more retired kids; never undoes one. @internal
   */
  applyGlobal(state: Partial<Pick<GlobalDefenseState, 'notBeforeMs' | 'retiredKids'>>): void {
    this.global = {
      notBeforeMs: Math.max(this.global.notBeforeMs, state.notBeforeMs ?? 0),
      retiredKids: { ...this.global.retiredKids, ...state.retiredKids },
    };
  }

  /**
   * The identity of a user an incident action names (`sub` and `iss`, as for `revoke`), or `InvalidRequestException`
   * (400) when it names none: an own `sub` with a control character, an issuer neither own nor configured. @internal
   */
  userNamed(sub: string, iss: string | undefined): UserIdentity {
    const identity = namedUserIdentity(sub, iss, this.issuers);
    if (!identity) throw new InvalidRequestException();
    return identity;
  }

  /** `iss` when it names an external issuer, `undefined` for this module's own (as events and the policy see it). @internal */
  externalIssuer(iss: string | undefined): string | undefined {
    return iss === undefined || iss === this.issuers.own ? undefined : iss;
  }

  /** Removes expired entries within the configured budget (the scheduled cleanup job calls this). */
  async cleanupExpired(): Promise<CleanupReport> {
    return this.lifecycle.store.cleanupExpired(this.options.cleanupBudgetMs);
  }

  /** Re-reads the global state; keeps the last known one when the store is down. */
  async refreshGlobalState(): Promise<void> {
    try {
      const state = await this.globalStore.readGlobalState();
      this.applyGlobal(state);
      this.refreshed.next(state);
    } catch (error) {
      this.logger.warn(`global revocation state not refreshed: ${(error as Error).message}`);
    }
  }

  private tagOf(jti: string, sub: string | undefined, iss: string | undefined): string {
    if (sub !== undefined) return this.userNamed(sub, iss).tag;
    // Only this module's jtis carry their user: an external issuer's token needs its subject.
    if (this.externalIssuer(iss) !== undefined) throw new SubjectRequiredException();
    const own = parseOwnJti(jti);
    // Not provably ours: recording it under a guessed user would be a silent no-op.
    if (!own) throw new SubjectRequiredException();
    return own.tag;
  }


  /** The facade of incident actions, for the deprecated methods above (it depends on this service: looked up late). */
  private incident(): IncidentService {
    return this.moduleRef.get<IncidentService>(INCIDENT_FACADE);
  }
}

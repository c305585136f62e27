import type { SecurityEvent, SecurityEventQuery } from '../../events/security-event.js';
import type { RateLimitResult } from '../../throttling/rate-limit.js';
import type {
  CleanupReport,
  DeclaredIssuers,
  DefenseStore,
  GlobalDefenseState,
  KeyRingLimits,
  KeyRotationOutcome,
  LockdownState,
  RateLimitHit,
  RefreshSessionRecord,
  RevocationRecord,
  RiskLearning,
  RotateConditions,
  RotateOutcome,
  SessionLimits,
  StoredSigningKey,
} from '../defense-store.ports.js';
import { emptyRiskProfile, learnRiskProfile, type RiskProfileState } from '../../risk/risk-profile.js';
import type { AnomalyCounterState } from '../../monitoring/anomaly-count.js';
import { BUILT_IN_CHECK_PARTS } from '../../pipeline/check-parts.js';
import type { AnyCheckPart, DefenseCheckRequest, DefenseCheckResult, MemorySpaces } from '../check-part.js';
import { CounterSpace, EventLog, ExpiringSpace, LruSpace } from './bounded-spaces.js';
import { runMemoryParts } from './memory-check.js';

/** The bounds and clock of a `MemoryDefenseStore` you construct (the module builds its own from `store: { type: 'memory' }`). */
export interface MemoryDefenseStoreOptions {
  /** Most live jti revocations kept. Default 100000. Never evicted early: when full, a revocation is refused (503). */
  maxRevocations?: number;
  /** Most live refresh sessions kept. Default 100000. Never evicted early: when full, a login is refused (503). */
  maxSessions?: number;
  /** Most live per-user revocation epochs kept. Default 100000. Never evicted early: when full, revoke-all is refused (503). */
  maxUserEpochs?: number;
  /** Most rate-limit counters kept per space (IP, body field, user). Default 100000. Idle ones go first, active blocks never. */
  maxCounters?: number;
  /** Most users whose context profile and anomaly baselines are kept (least recently used go first). Default 100000. */
  maxProfiles?: number;
  /** Most DPoP proofs remembered (for their replay window). Never evicted early: when full, a new proof is refused (503). Default 100000. */
  maxDpopProofs?: number;
  /** Most security events kept (the oldest go first). Default 10000. */
  maxEvents?: number;
  /**
   * Most entries one principal (a user, a client address) may hold in any one bounded space, and never more than half
   * of it: beyond its share a principal only ever makes room among its own entries (or is refused), so it can never
   * fill a space for the others. Default 1000.
   */
  maxPerPrincipal?: number;
  /** Time source, epoch ms. Default `Date.now`. */
  now?: () => number;
  /** Told when a space is full (the module records a `store_full` event). */
  onFull?: (space: string) => void;
  /** The parts of the per-request call (store/check-part.ts). Default: the layers' own. @internal */
  checkParts?: readonly AnyCheckPart[];
}

/**
 * The embedded store: one process, bounded, expiry by timestamp checked on read plus a small sweep on each
 * write and the scheduled cleanup; no timer per entry. Each kind of state has its own space, so cheap state
 * (rate counters) can never push out precious state (revocations, sessions, user epochs), and precious state is
 * never dropped before it expires.
 */
export class MemoryDefenseStore implements DefenseStore {
  readonly kind = 'memory' as const;
  private readonly revocations: ExpiringSpace<RevocationRecord>;
  private readonly sessions: ExpiringSpace<RefreshSessionRecord>;
  private readonly epochs: ExpiringSpace<number>;
  private readonly dpopProofs: ExpiringSpace<true>;
  private readonly counters = new Map<string, CounterSpace>();
  private readonly profiles: LruSpace<RiskProfileState>;
  private readonly baselines: LruSpace<Map<string, AnomalyCounterState>>;
  private readonly events: EventLog<SecurityEvent>;
  /** Each user's sessions (by tag), oldest first: the per-user cap of live sessions. */
  private readonly userSessions = new Map<string, Set<string>>();
  private readonly global: GlobalDefenseState = { notBeforeMs: 0, retiredKids: {} };
  private readonly signingKeys = new Map<string, StoredSigningKey>();
  /** kid of a rotated key → when it stopped signing (the next rotation), epoch ms. */
  private readonly stoppedSigningAtMs = new Map<string, number>();
  private rotationLock?: { flight: string; expiresAtMs: number };
  private readonly rotationOutcomes = new Map<string, { outcome: KeyRotationOutcome; expiresAtMs: number }>();
  private readonly maxCounters: number;
  private readonly maxPerPrincipal: number;
  private readonly now: () => number;
  private readonly onFull: (space: string) => void;
  private readonly checkParts: readonly AnyCheckPart[];
  /**
   * The bounded spaces the ports keep their state in and the parts' memory twins run over: for a custom store that
   * answers `check` itself with `runMemoryCheck` over them (or a view of them). Written directly, they skip the ports'
   * rules (an epoch never lowered, a session's cap): write through the ports.
   */
  readonly spaces: MemorySpaces;

  constructor(options: MemoryDefenseStoreOptions = {}) {
    this.now = options.now ?? Date.now;
    this.onFull = options.onFull ?? (() => undefined);
    this.maxCounters = options.maxCounters ?? 100_000;
    const share = (this.maxPerPrincipal = options.maxPerPrincipal ?? 1000);
    this.events = new EventLog(options.maxEvents ?? 10_000, share);
    this.revocations = new ExpiringSpace('revocations', options.maxRevocations ?? 100_000, this.now, this.onFull, share);
    this.sessions = new ExpiringSpace('sessions', options.maxSessions ?? 100_000, this.now, this.onFull, share);
    this.epochs = new ExpiringSpace('userEpochs', options.maxUserEpochs ?? 100_000, this.now, this.onFull, share);
    // One profile and one set of baselines per user (and at most maxRoutes routes each): no principal can hold more.
    this.profiles = new LruSpace(options.maxProfiles ?? 100_000);
    this.dpopProofs = new ExpiringSpace('dpopProofs', options.maxDpopProofs ?? 100_000, this.now, this.onFull, share);
    this.baselines = new LruSpace(options.maxProfiles ?? 100_000);
    this.checkParts = options.checkParts ?? BUILT_IN_CHECK_PARTS;
    const expiring = new Map<string, ExpiringSpace<unknown>>([
      ['revocations', this.revocations],
      ['sessions', this.sessions],
      ['userEpochs', this.epochs],
      ['dpopProofs', this.dpopProofs],
    ] as Array<[string, ExpiringSpace<unknown>]>);
    const lru = new Map<string, LruSpace<unknown>>([
      ['profiles', this.profiles],
      ['baselines', this.baselines],
    ] as Array<[string, LruSpace<unknown>]>);
    // The parts' spaces by name: those above, and any other a part names, with the defaults (a toy layer's own).
    this.spaces = {
      expiring: <V>(name: string) => {
        let space = expiring.get(name);
        if (!space) expiring.set(name, (space = new ExpiringSpace(name, 100_000, this.now, this.onFull, share)));
        return space as ExpiringSpace<V>;
      },
      counters: (name) => this.space(name),
      lru: <V>(name: string) => {
        let space = lru.get(name);
        if (!space) lru.set(name, (space = new LruSpace(options.maxProfiles ?? 100_000)));
        return space as LruSpace<V>;
      },
    };
  }

  /**
   * The ONE per-request call: the asked-for parts' memory twins over this store's spaces (store/check-part.ts),
   * answered at once (no promise: the hot path does not wait for what is already known).
   */
  check(request: DefenseCheckRequest): DefenseCheckResult {
    return runMemoryParts(this.checkParts, this.spaces, request, this.now());
  }

  async recordProof(tag: string, key: string, ttlMs: number): Promise<boolean> {
    const proofKey = `${tag}:${key}`;
    if (this.dpopProofs.get(proofKey) !== undefined) return false;
    this.dpopProofs.set(proofKey, true, this.now() + Math.max(1, ttlMs), tag);
    return true;
  }

  /** One count, answered at once (no promise). */
  hit(request: RateLimitHit): RateLimitResult {
    return this.space(request.space).hit(request.key, request, request.principal ?? request.key);
  }

  async revokeToken(tag: string, record: RevocationRecord, ttlMs: number): Promise<boolean> {
    const key = `${tag}:${record.jti}`;
    if (this.revocations.get(key) !== undefined) return false;
    this.revocations.set(key, { ...record }, this.now() + Math.max(1, ttlMs), tag);
    return true;
  }

  async getRevocation(tag: string, jti: string): Promise<RevocationRecord | undefined> {
    const record = this.revocations.get(`${tag}:${jti}`);
    return record && { ...record };
  }

  async raiseUserNotBefore(tag: string, sub: string, atMs: number, ttlMs: number): Promise<number> {
    const key = `${tag}:${sub}`;
    const epoch = Math.max(this.epochs.get(key) ?? 0, atMs);
    this.epochs.set(key, epoch, this.now() + Math.max(1, ttlMs), tag);
    return epoch;
  }

  async readGlobalState(): Promise<GlobalDefenseState> {
    return {
      ...this.global,
      retiredKids: { ...this.global.retiredKids },
      ...(this.global.lockdown ? { lockdown: { ...this.global.lockdown } } : {}),
      ...(this.global.declaredIssuers ? { declaredIssuers: { ...this.global.declaredIssuers, external: [...this.global.declaredIssuers.external] } } : {}),
    };
  }

  async raiseGlobalNotBefore(atMs: number): Promise<number> {
    this.global.notBeforeMs = Math.max(this.global.notBeforeMs, atMs);
    return this.global.notBeforeMs;
  }

  async retireKid(kid: string, atMs: number, signingKid?: string): Promise<boolean> {
    const active = this.global.signingKid ?? signingKid ?? this.global.declaredSigningKid;
    if (active === kid) return false;
    this.global.retiredKids[kid] ??= atMs;
    if (this.signingKeys.delete(kid)) this.global.keysVersion = (this.global.keysVersion ?? 0) + 1;
    return true;
  }

  async declareSigningKid(kid: string): Promise<void> {
    this.global.declaredSigningKid = kid;
  }

  async declareIssuers(issuers: DeclaredIssuers): Promise<void> {
    this.global.declaredIssuers = { ...(issuers.own === undefined ? {} : { own: issuers.own }), external: [...issuers.external] };
  }

  async setLockdown(state: LockdownState): Promise<void> {
    if (state.sinceMs < (this.global.lockdown?.sinceMs ?? 0)) return;
    this.global.lockdown = { ...state };
  }

  async lockKeyRotation(flight: string, ttlMs: number): Promise<string | undefined> {
    const nowMs = this.now();
    const lock = this.rotationLock;
    if (lock && lock.flight !== flight && lock.expiresAtMs > nowMs) return lock.flight;
    this.rotationLock = { flight, expiresAtMs: nowMs + ttlMs };
    return undefined;
  }

  /** The twin of the COMMIT_KEY_ROTATION script. */
  async commitKeyRotation(flight: string, key: StoredSigningKey, previousKid: string | undefined, limits: KeyRingLimits, outcomeTtlMs: number): Promise<KeyRotationOutcome> {
    const nowMs = this.now();
    const signing = this.global.signingKid;
    // The key being replaced stops signing now; so does, conservatively, one whose stop was never recorded.
    const ring = [...this.signingKeys.keys()]
      .map((kid) => ({ kid, stoppedAtMs: kid === signing ? nowMs : (this.stoppedSigningAtMs.get(kid) ?? nowMs) }))
      .sort((a, b) => a.stoppedAtMs - b.stoppedAtMs || (a.kid < b.kid ? -1 : a.kid > b.kid ? 1 : 0));
    const leaving = ring.slice(0, Math.max(0, ring.length + 1 - limits.maxKeys));
    let outcome: KeyRotationOutcome;
    if (leaving.some((entry) => nowMs - entry.stoppedAtMs < limits.retireAfterMs)) {
      outcome = { rotated: false, reason: 'key_ring_full', retryAfterMs: leaving[leaving.length - 1].stoppedAtMs + limits.retireAfterMs - nowMs };
    } else {
      for (const { kid } of leaving) {
        this.global.retiredKids[kid] ??= nowMs;
        this.signingKeys.delete(kid);
      }
      for (const kid of this.stoppedSigningAtMs.keys()) if (!this.signingKeys.has(kid)) this.stoppedSigningAtMs.delete(kid);
      for (const { kid, stoppedAtMs } of ring) {
        if (this.signingKeys.has(kid) && (kid === signing || !this.stoppedSigningAtMs.has(kid))) this.stoppedSigningAtMs.set(kid, stoppedAtMs);
      }
      this.signingKeys.set(key.kid, { ...key, algorithms: [...key.algorithms] });
      this.global.signingKid = key.kid;
      this.global.keysVersion = (this.global.keysVersion ?? 0) + 1;
      const previous = signing ?? previousKid;
      outcome = { rotated: true, kid: key.kid, algorithm: key.algorithms[0], ...(previous ? { previousKid: previous } : {}), retiredKids: leaving.map((entry) => entry.kid) };
    }
    for (const [done, entry] of this.rotationOutcomes) if (entry.expiresAtMs <= nowMs) this.rotationOutcomes.delete(done);
    this.rotationOutcomes.set(flight, { outcome, expiresAtMs: nowMs + outcomeTtlMs });
    if (this.rotationLock?.flight === flight) this.rotationLock = undefined;
    return structuredClone(outcome);
  }

  async keyRotationOutcome(flight: string): Promise<KeyRotationOutcome | 'pending' | undefined> {
    const nowMs = this.now();
    const done = this.rotationOutcomes.get(flight);
    if (done && done.expiresAtMs > nowMs) return structuredClone(done.outcome);
    const lock = this.rotationLock;
    return lock?.flight === flight && lock.expiresAtMs > nowMs ? 'pending' : undefined;
  }

  async listSigningKeys(): Promise<StoredSigningKey[]> {
    return [...this.signingKeys.values()].map((key) => ({ ...key, algorithms: [...key.algorithms] })).sort((a, b) => a.createdAtMs - b.createdAtMs);
  }

  async learnContext(tag: string, sub: string, learning: RiskLearning): Promise<void> {
    const user = `${tag}:${sub}`;
    this.profiles.set(user, learnRiskProfile(this.profiles.get(user, learning.nowMs), learning), learning.nowMs, learning.ttlMs);
  }

  async recordChallenge(tag: string, sub: string, atMs: number, ttlMs: number, contextKey: string): Promise<void> {
    const user = `${tag}:${sub}`;
    const profile = this.profiles.get(user, atMs) ?? emptyRiskProfile();
    if (atMs >= profile.challengedAtMs) {
      profile.challengedAtMs = atMs;
      profile.challengedContext = contextKey;
    }
    this.profiles.set(user, profile, atMs, ttlMs);
  }

  async raiseStepUpBefore(tag: string, sub: string, atMs: number, ttlMs: number): Promise<number> {
    const key = `${tag}:${sub}:su`;
    const epoch = Math.max(this.epochs.get(key) ?? 0, atMs);
    this.epochs.set(key, epoch, this.now() + Math.max(1, ttlMs), tag);
    return epoch;
  }

  async createSession(session: RefreshSessionRecord, limits?: SessionLimits): Promise<string[]> {
    this.sessions.set(`${session.tag}:${session.sid}`, { ...session }, session.expiresAtMs, session.tag);
    let sids = this.userSessions.get(session.tag);
    if (!sids) {
      sids = new Set();
      this.userSessions.set(session.tag, sids);
    }
    sids.add(session.sid);
    if (!limits) return [];
    // The user's live sessions, oldest first (ended or revoked ones leave the index as they are met).
    const live: RefreshSessionRecord[] = [];
    for (const sid of sids) {
      const stored = this.sessions.get(`${session.tag}:${sid}`);
      if (stored && stored.revokedReason === undefined && stored.sub === session.sub) live.push(stored);
      else if (!stored || stored.revokedReason !== undefined) sids.delete(sid);
    }
    const revoked = live.slice(0, Math.max(0, live.length - limits.maxPerUser)).map((oldest) => oldest.sid);
    for (const sid of revoked) await this.revokeSession(session.tag, sid, 'session_limit', limits.revokedRetainMs);
    return revoked;
  }

  async getSession(tag: string, sid: string): Promise<RefreshSessionRecord | undefined> {
    const session = this.sessions.get(`${tag}:${sid}`);
    return session && { ...session };
  }

  async rotateSession(tag: string, sid: string, sub: string, generation: number, conditions: RotateConditions): Promise<RotateOutcome> {
    const session = this.sessions.get(`${tag}:${sid}`) as (RefreshSessionRecord & { rotatedAtMs?: number }) | undefined;
    if (!session) return 'missing';
    if (session.revokedReason !== undefined) return 'revoked';
    if (session.sub !== sub) return 'missing';
    if (session.createdAtMs <= Math.max(this.epochs.get(`${tag}:${sub}`) ?? 0, conditions.globalNotBeforeMs)) return 'revoked';
    const rotates = generation === session.generation;
    const replays = !rotates && generation === session.generation - 1 && conditions.reuseGraceMs > 0 && conditions.nowMs - (session.rotatedAtMs ?? 0) <= conditions.reuseGraceMs;
    if (rotates || replays) {
      // The proof and the rotation in one step: a replayed proof leaves the session as it was.
      if (conditions.dpopProof && !(await this.recordProof(tag, conditions.dpopProof.key, conditions.dpopProof.ttlMs))) return 'proof_replayed';
      if (replays) return 'replayed';
      session.generation += 1;
      session.rotatedAtMs = conditions.nowMs;
      return 'rotated';
    }
    if (generation < session.generation) {
      await this.revokeSession(tag, sid, 'refresh_token_reuse', conditions.revokedRetainMs);
      return 'reuse';
    }
    return 'missing';
  }

  async revokeSession(tag: string, sid: string, reason: string, retainMs?: number): Promise<boolean> {
    const key = `${tag}:${sid}`;
    const session = this.sessions.get(key);
    if (!session) return false;
    session.revokedReason ??= reason;
    this.userSessions.get(tag)?.delete(sid);
    if (retainMs !== undefined) this.sessions.set(key, session, Math.min(session.expiresAtMs, this.now() + Math.max(1, retainMs)), tag);
    return true;
  }

  async appendEvent(event: SecurityEvent): Promise<void> {
    // The event's user, else its client: one client's flood only replaces its own events.
    this.events.append(event, event.sub !== undefined ? `sub:${event.sub}` : event.ip !== undefined ? `ip:${event.ip}` : undefined);
  }

  async listEvents(query: SecurityEventQuery): Promise<SecurityEvent[]> {
    const found: SecurityEvent[] = [];
    for (const event of this.events.newestFirst()) {
      if (found.length >= query.limit) break;
      if (query.sinceMs !== undefined && Date.parse(event.at) < query.sinceMs) break;
      if ((query.type === undefined || event.type === query.type) && (query.sub === undefined || event.sub === query.sub)) {
        found.push(event);
      }
    }
    return found;
  }

  async cleanupExpired(budgetMs: number): Promise<CleanupReport> {
    const started = this.now();
    const budget = { deadlineMs: Date.now() + budgetMs, clock: Date.now };
    const report: CleanupReport = { scanned: 0, removed: 0, truncated: false };
    for (const space of [this.revocations, this.sessions, this.epochs, this.dpopProofs]) {
      const done = space.sweep(started, Infinity, budget);
      report.scanned += done.scanned;
      report.removed += done.removed;
      if (done.truncated) return { ...report, truncated: true };
    }
    for (const space of this.counters.values()) {
      report.scanned += space.size;
      report.removed += space.sweep(started, Infinity);
    }
    for (const space of [this.profiles, this.baselines]) {
      report.scanned += space.size;
      report.removed += space.sweep(started, Infinity);
    }
    // The per-user session index forgets sessions that ended.
    for (const [tag, sids] of this.userSessions) {
      for (const sid of sids) if (this.sessions.get(`${tag}:${sid}`) === undefined) sids.delete(sid);
      if (sids.size === 0) this.userSessions.delete(tag);
    }
    return report;
  }

  async ping(): Promise<void> {}

  async close(): Promise<void> {
    for (const space of [this.revocations, this.sessions, this.epochs, this.dpopProofs, this.profiles, this.baselines, this.events, ...this.counters.values()]) space.clear();
    this.userSessions.clear();
  }

  /** Live entries per space (for tests and metrics). */
  get sizes(): Record<string, number> {
    const sizes: Record<string, number> = {
      revocations: this.revocations.size,
      sessions: this.sessions.size,
      userEpochs: this.epochs.size,
      dpopProofs: this.dpopProofs.size,
      events: this.events.size,
      profiles: this.profiles.size,
      baselines: this.baselines.size,
    };
    sizes.baselineRoutes = 0;
    this.baselines.forEach((routes) => (sizes.baselineRoutes += routes.size));
    for (const [name, space] of this.counters) sizes[`counters:${name}`] = space.size;
    return sizes;
  }

  private space(name: string): CounterSpace {
    let space = this.counters.get(name);
    if (!space) {
      space = new CounterSpace(`counters:${name}`, this.maxCounters, this.onFull, this.maxPerPrincipal);
      this.counters.set(name, space);
    }
    return space;
  }
}

import type { DefenseStore, RefreshSessionRecord, RiskLearning, RiskRead, AnomalyCount, UserRateLimitRequest } from '../defense-store.ports.js';
import { MemoryDefenseStore } from '../memory/memory-defense.store.js';
import { BUILT_IN_CHECK_PARTS } from '../../pipeline/check-parts.js';
import { DPOP_PART } from '../../dpop/dpop.check-part.js';
import { ANOMALY_PART, STEP_UP_PART } from '../../monitoring/anomaly.check-part.js';
import { REVOCATION_PART } from '../../revocation/revocation.check-part.js';
import { RISK_PART } from '../../risk/risk.check-part.js';
import { IP_RATE_PART, type IpRateCount } from '../../throttling/ip-rate.check-part.js';
import { USER_RATE_PART } from '../../throttling/user-rate.check-part.js';
import { checkToken, type TokenCheck } from './token-check.js';

/** Makes a fresh store for one case of the contract (an empty one, or one under a key prefix of its own). */
export type DefenseStoreFactory = () => DefenseStore | Promise<DefenseStore>;

/**
 * The behavioural contract of a `DefenseStore`, as Jest tests: every port (revocations, epochs, the global state, the
 * key ring, sessions, context profiles, anomaly baselines, events) and the ONE per-request check part by part (a block
 * of cases per built-in part, under its name: a test fails when a registered part has none), one case at a time on a
 * fresh store from `factory`, closed after it. `MemoryDefenseStore` and
 * `RedisDefenseStore` (standalone and Cluster) pass it; so must a custom store (`store: { type: 'custom', store }`).
 * Call it at the top level of a Jest test file (or a Vitest one with `globals: true`), with `runDefenseStoreContract`
 * from `@jwt-defense/core/store`:
 *
 * ```ts
 * runDefenseStoreContract('my store', async () => new MyStore({ keyPrefix: `test-${randomUUID()}:` }));
 * ```
 *
 * The cases take real time here and there (a lock or a grace running out: about 2 s in all).
 */
export function runDefenseStoreContract(name: string, factory: DefenseStoreFactory): void {
  const { describe, it, expect, beforeEach, afterEach } = testRunner();
  describe(`DefenseStore contract on ${name}`, () => {
    let store: DefenseStore;
    beforeEach(async () => {
      store = await factory();
    });
    afterEach(() => store.close());

    const now = Date.now();

    it('keeps the global state', async () => {
      await expect(store.raiseGlobalNotBefore(now)).resolves.toBe(now);
      await expect(store.raiseGlobalNotBefore(now - 1)).resolves.toBe(now);
      await expect(store.retireKid('old-key', now)).resolves.toBe(true);
      await expect(store.retireKid('old-key', now + 5)).resolves.toBe(true);
      await expect(store.readGlobalState()).resolves.toEqual({ notBeforeMs: now, retiredKids: { 'old-key': now } });
    });

    it('refuses to retire the signing key, atomically: the rotated one, else the caller\'s, else the declared one', async () => {
      await store.declareSigningKid('configured');
      await expect(store.retireKid('configured', now)).resolves.toBe(false);
      await expect(store.retireKid('mine', now, 'mine')).resolves.toBe(false);
      await expect(store.retireKid('configured', now, 'mine')).resolves.toBe(true);
      await expect(store.readGlobalState()).resolves.toMatchObject({ declaredSigningKid: 'configured', retiredKids: { configured: now } });
    });

    it('keeps the issuers an instance declared (optional), the last declaration replacing the one before', async () => {
      if (!store.declareIssuers) return;
      await expect(store.readGlobalState()).resolves.not.toHaveProperty('declaredIssuers');
      await store.declareIssuers({ own: 'https://api.test', external: ['https://idp.test/', 'https://other.test'] });
      expect((await store.readGlobalState()).declaredIssuers).toEqual({ own: 'https://api.test', external: ['https://idp.test/', 'https://other.test'] });
      await store.declareIssuers({ external: ['https://idp.test/'] });
      expect((await store.readGlobalState()).declaredIssuers).toEqual({ external: ['https://idp.test/'] });
    });

    // k1, k2...: made one millisecond apart.
    const signingKey = (kid: string) => ({ kid, algorithms: ['ES256'], sealed: `v1.x.${kid}`, createdAtMs: now + Number(kid.slice(1)) });
    const ROOMY = { maxKeys: 10, retireAfterMs: 0 };
    /** A whole rotation by one flight: the lock, then the commit. */
    const rotate = async (flight: string, kid: string, limits = ROOMY, previousKid?: string) => {
      await expect(store.lockKeyRotation(flight, 10_000)).resolves.toBeUndefined();
      return store.commitKeyRotation(flight, signingKey(kid), previousKid, limits, 60_000);
    };

    it('shares rotated keys: the newest signs, a retired one is deleted, every change moves the version', async () => {
      await expect(rotate('f1', 'k1', ROOMY, 'configured')).resolves.toEqual({ rotated: true, kid: 'k1', algorithm: 'ES256', previousKid: 'configured', retiredKids: [] });
      // The store's signing key, not the caller's (which may lag behind another instance's rotation), is the previous one.
      await expect(rotate('f2', 'k2', ROOMY, 'stale')).resolves.toEqual({ rotated: true, kid: 'k2', algorithm: 'ES256', previousKid: 'k1', retiredKids: [] });
      await expect(store.listSigningKeys()).resolves.toEqual([signingKey('k1'), signingKey('k2')]);
      await expect(store.readGlobalState()).resolves.toMatchObject({ signingKid: 'k2', keysVersion: 2 });
      // The rotated signing key wins over a caller's configured one.
      await expect(store.retireKid('k2', now, 'configured')).resolves.toBe(false);
      await expect(store.retireKid('k1', now, 'k1')).resolves.toBe(true);
      await expect(store.listSigningKeys()).resolves.toEqual([signingKey('k2')]);
      await expect(store.readGlobalState()).resolves.toMatchObject({ signingKid: 'k2', keysVersion: 3, retiredKids: { k1: now } });
    });

    it('rotates one flight at a time: the others wait for its outcome, which its commit records as it releases the lock', async () => {
      await expect(store.lockKeyRotation('f1', 10_000)).resolves.toBeUndefined();
      await expect(store.lockKeyRotation('f2', 10_000)).resolves.toBe('f1');
      await expect(store.lockKeyRotation('f3', 10_000)).resolves.toBe('f1');
      await expect(store.keyRotationOutcome('f1')).resolves.toBe('pending');
      const outcome = await store.commitKeyRotation('f1', signingKey('k1'), 'configured', ROOMY, 60_000);
      expect(outcome).toEqual({ rotated: true, kid: 'k1', algorithm: 'ES256', previousKid: 'configured', retiredKids: [] });
      // Every waiter reads the same outcome: one rotation, one key.
      await expect(store.keyRotationOutcome('f1')).resolves.toEqual(outcome);
      await expect(store.keyRotationOutcome('f1')).resolves.toEqual(outcome);
      await expect(store.listSigningKeys()).resolves.toEqual([signingKey('k1')]);
      // Released in the commit: a flight that starts after it answered rotates again.
      await expect(rotate('f4', 'k2')).resolves.toMatchObject({ rotated: true, kid: 'k2', previousKid: 'k1' });
      await expect(store.readGlobalState()).resolves.toMatchObject({ signingKid: 'k2', keysVersion: 2 });
      await expect(store.keyRotationOutcome('nobody')).resolves.toBeUndefined();
    });

    it('a lock whose holder never commits runs out: its waiters see it gave up, and another flight takes the lock', async () => {
      await expect(store.lockKeyRotation('f1', 30)).resolves.toBeUndefined();
      await expect(store.lockKeyRotation('f2', 10_000)).resolves.toBe('f1');
      await new Promise((resolve) => setTimeout(resolve, 100));
      await expect(store.keyRotationOutcome('f1')).resolves.toBeUndefined();
      await expect(store.lockKeyRotation('f2', 10_000)).resolves.toBeUndefined();
      await expect(store.lockKeyRotation('f3', 10_000)).resolves.toBe('f2');
    });

    it('keeps maxKeys rotated keys: the oldest is retired only once it stopped signing retireAfterMs ago, else key_ring_full', async () => {
      const HOUR = { maxKeys: 2, retireAfterMs: 3_600_000 };
      await rotate('f1', 'k1', HOUR);
      await rotate('f2', 'k2', HOUR);
      // k1 stopped signing just now (when k2 came): a token it signed may still be valid. Nothing changes.
      const full = await rotate('f3', 'k3', HOUR);
      expect(full).toEqual({ rotated: false, reason: 'key_ring_full', retryAfterMs: expect.any(Number) });
      expect(full.rotated === false && full.retryAfterMs).toBeGreaterThan(3_540_000);
      expect(full.rotated === false && full.retryAfterMs).toBeLessThanOrEqual(3_600_000);
      await expect(store.keyRotationOutcome('f3')).resolves.toEqual(full);
      await expect(store.listSigningKeys()).resolves.toEqual([signingKey('k1'), signingKey('k2')]);
      await expect(store.readGlobalState()).resolves.toMatchObject({ signingKid: 'k2', keysVersion: 2, retiredKids: {} });

      // Once no token of k1 can be valid (a window of 0 here), it goes, in the same step as k3 comes.
      await expect(rotate('f4', 'k3', { maxKeys: 2, retireAfterMs: 0 })).resolves.toEqual({ rotated: true, kid: 'k3', algorithm: 'ES256', previousKid: 'k2', retiredKids: ['k1'] });
      await expect(store.listSigningKeys()).resolves.toEqual([signingKey('k2'), signingKey('k3')]);
      const state = await store.readGlobalState();
      expect(state).toMatchObject({ signingKid: 'k3', keysVersion: 3 });
      expect(Object.keys(state.retiredKids)).toEqual(['k1']);

      // A retirement by hand makes room at once.
      await expect(store.retireKid('k2', now)).resolves.toBe(true);
      await expect(rotate('f5', 'k4', HOUR)).resolves.toMatchObject({ rotated: true, kid: 'k4', previousKid: 'k3', retiredKids: [] });
      // The oldest by the time it stopped signing goes first; a lowered cap retires as many as it must.
      await rotate('f6', 'k5', { maxKeys: 10, retireAfterMs: 0 });
      await expect(rotate('f7', 'k6', { maxKeys: 2, retireAfterMs: 0 })).resolves.toMatchObject({ rotated: true, kid: 'k6', retiredKids: ['k3', 'k4'] });
      await expect(store.listSigningKeys().then((keys) => keys.map((key) => key.kid).sort())).resolves.toEqual(['k5', 'k6']);
    });

    it('keeps the newest lockdown decision', async () => {
      await expect(store.readGlobalState()).resolves.not.toHaveProperty('lockdown');
      await store.setLockdown({ mode: 'step-up', sinceMs: now, reason: 'theft', actor: 'admin' });
      await store.setLockdown({ mode: 'off', sinceMs: now - 10, reason: 'late replay' });
      await expect(store.readGlobalState()).resolves.toMatchObject({ lockdown: { mode: 'step-up', sinceMs: now, reason: 'theft', actor: 'admin' } });
      await store.setLockdown({ mode: 'off', sinceMs: now + 10, reason: 'over' });
      await expect(store.readGlobalState()).resolves.toMatchObject({ lockdown: { mode: 'off', sinceMs: now + 10, reason: 'over' } });
    });

    const session = (overrides: Partial<RefreshSessionRecord> = {}): RefreshSessionRecord => ({
      sid: 'sid1',
      tag: 'tagA',
      sub: 'alice',
      key: 'k',
      generation: 0,
      createdAtMs: now,
      expiresAtMs: now + 60_000,
      claims: '{"roles":["user"]}',
      ...overrides,
    });

    const strict = () => ({ globalNotBeforeMs: 0, nowMs: now, reuseGraceMs: 0 });

    it('rotates a session one generation at a time and revokes it on reuse', async () => {
      await store.createSession(session());
      await expect(store.getSession('tagA', 'sid1')).resolves.toEqual(session());
      await expect(store.rotateSession('tagA', 'sid1', 'alice', 0, strict())).resolves.toBe('rotated');
      await expect(store.rotateSession('tagA', 'sid1', 'alice', 1, strict())).resolves.toBe('rotated');
      await expect(store.rotateSession('tagA', 'sid1', 'alice', 5, strict())).resolves.toBe('missing');
      await expect(checkToken(store, { tag: 'tagA', sub: 'alice', jti: 'j', sid: 'sid1' })).resolves.toMatchObject({ sessionRevoked: false });
      await expect(store.rotateSession('tagA', 'sid1', 'alice', 0, strict())).resolves.toBe('reuse');
      await expect(store.rotateSession('tagA', 'sid1', 'alice', 2, strict())).resolves.toBe('revoked');
      await expect(checkToken(store, { tag: 'tagA', sub: 'alice', jti: 'j', sid: 'sid1' })).resolves.toMatchObject({ sessionRevoked: true });
      await expect(store.getSession('tagA', 'sid1')).resolves.toMatchObject({ generation: 2, revokedReason: 'refresh_token_reuse' });
    });

    it('a session created before the global epoch is revoked, in the same atomic step', async () => {
      await store.createSession(session({ sid: 'sidG' }));
      await expect(store.rotateSession('tagA', 'sidG', 'alice', 0, { ...strict(), globalNotBeforeMs: now })).resolves.toBe('revoked');
      await expect(store.rotateSession('tagA', 'sidG', 'alice', 0, { ...strict(), globalNotBeforeMs: now - 1 })).resolves.toBe('rotated');
    });

    it('within the reuse grace, the previous generation is replayed, until the new one is used', async () => {
      // Real time: a store with a clock of its own (Redis TIME) measures the grace with it, the memory store with nowMs.
      const GRACE_MS = 1500;
      await store.createSession(session({ sid: 'sidR' }));
      const graced = (nowMs = Date.now()) => ({ globalNotBeforeMs: 0, nowMs, reuseGraceMs: GRACE_MS });
      await expect(store.rotateSession('tagA', 'sidR', 'alice', 0, graced())).resolves.toBe('rotated');
      await expect(store.rotateSession('tagA', 'sidR', 'alice', 0, graced())).resolves.toBe('replayed');
      if (store.timeMs) {
        // A caller whose clock runs 20 s fast (within the 30 s tolerance): still a retry within the grace, not reuse.
        await expect(store.rotateSession('tagA', 'sidR', 'alice', 0, graced(Date.now() + 20_000))).resolves.toBe('replayed');
      }
      await expect(store.getSession('tagA', 'sidR')).resolves.toMatchObject({ generation: 1 });
      await new Promise((resolve) => setTimeout(resolve, GRACE_MS + 100));
      await expect(store.rotateSession('tagA', 'sidR', 'alice', 0, graced())).resolves.toBe('reuse');
      await store.createSession(session({ sid: 'sidS' }));
      await expect(store.rotateSession('tagA', 'sidS', 'alice', 0, graced())).resolves.toBe('rotated');
      await expect(store.rotateSession('tagA', 'sidS', 'alice', 1, graced())).resolves.toBe('rotated');
      // The new generation was used: the previous one is reuse, even within the grace.
      await expect(store.rotateSession('tagA', 'sidS', 'alice', 0, graced())).resolves.toBe('reuse');
    });

    it('a session created before the user epoch is revoked', async () => {
      await store.createSession(session({ sid: 'sid2' }));
      await store.raiseUserNotBefore('tagA', 'alice', now, 60_000);
      await expect(store.rotateSession('tagA', 'sid2', 'alice', 0, strict())).resolves.toBe('revoked');
      await expect(store.rotateSession('tagA', 'nope', 'alice', 0, strict())).resolves.toBe('missing');
    });

    it('revokes a session explicitly', async () => {
      await store.createSession(session({ sid: 'sid3' }));
      await expect(store.revokeSession('tagA', 'sid3', 'logout')).resolves.toBe(true);
      await expect(store.revokeSession('tagA', 'missing', 'logout')).resolves.toBe(false);
      await expect(store.getSession('tagA', 'sid3')).resolves.toMatchObject({ revokedReason: 'logout' });
      await expect(store.rotateSession('tagA', 'sid3', 'alice', 0, strict())).resolves.toBe('revoked');
    });

    it("caps a user's live sessions: beyond the cap the oldest is revoked at once; logouts and ended sessions do not count", async () => {
      const limits = { maxPerUser: 2, revokedRetainMs: 60_000 };
      const mine = (sid: string, createdAtMs: number) => session({ tag: 'tagM', sub: 'mia', sid, createdAtMs, expiresAtMs: createdAtMs + 60_000 });
      await expect(store.createSession(mine('m1', now), limits)).resolves.toEqual([]);
      await expect(store.createSession(mine('m2', now + 1), limits)).resolves.toEqual([]);
      await expect(store.createSession(mine('m3', now + 2), limits)).resolves.toEqual(['m1']);
      await expect(store.getSession('tagM', 'm1')).resolves.toMatchObject({ revokedReason: 'session_limit' });
      await expect(checkToken(store, { tag: 'tagM', sub: 'mia', jti: 'j', sid: 'm1' })).resolves.toMatchObject({ sessionRevoked: true });
      await expect(store.rotateSession('tagM', 'm1', 'mia', 0, strict())).resolves.toBe('revoked');
      // A logout frees its place; so does a session revoked by reuse.
      await store.revokeSession('tagM', 'm2', 'logout', 60_000);
      await expect(store.createSession(mine('m4', now + 3), limits)).resolves.toEqual([]);
      await expect(store.rotateSession('tagM', 'm3', 'mia', 0, strict())).resolves.toBe('rotated');
      await expect(store.rotateSession('tagM', 'm3', 'mia', 0, { ...strict(), revokedRetainMs: 60_000 })).resolves.toBe('reuse');
      await expect(store.createSession(mine('m5', now + 4), limits)).resolves.toEqual([]);
      await expect(store.createSession(mine('m6', now + 5), limits)).resolves.toEqual(['m4']);
      for (const sid of ['m5', 'm6']) await expect(checkToken(store, { tag: 'tagM', sub: 'mia', jti: 'j', sid })).resolves.toMatchObject({ sessionRevoked: false });
      // Another user's sessions are their own.
      await expect(store.createSession(session({ tag: 'tagN', sub: 'noa', sid: 'n1' }), limits)).resolves.toEqual([]);
    });

    it('a revoked session is kept as revoked only as long as its access tokens may live', async () => {
      await store.createSession(session({ sid: 'sidK', expiresAtMs: Date.now() + 3_600_000 }), { maxPerUser: 50, revokedRetainMs: 300 });
      await store.revokeSession('tagA', 'sidK', 'logout', 300);
      await expect(checkToken(store, { tag: 'tagA', sub: 'alice', jti: 'j', sid: 'sidK' })).resolves.toMatchObject({ sessionRevoked: true });
      if (store instanceof MemoryDefenseStore) return; // its clock is Date.now: shown with a frozen clock in its own spec
      await new Promise((resolve) => setTimeout(resolve, 400));
      await expect(store.getSession('tagA', 'sidK')).resolves.toBeUndefined();
    });

    it("records a refresh's DPoP proof with its rotation: a replayed proof rotates nothing", async () => {
      await store.createSession(session({ sid: 'sidD' }));
      const proof = (key: string) => ({ ...strict(), dpopProof: { key, ttlMs: 60_000 } });
      await expect(store.rotateSession('tagA', 'sidD', 'alice', 0, proof('d1'))).resolves.toBe('rotated');
      await expect(store.rotateSession('tagA', 'sidD', 'alice', 1, proof('d1'))).resolves.toBe('proof_replayed');
      await expect(store.getSession('tagA', 'sidD')).resolves.toMatchObject({ generation: 1 });
      await expect(store.rotateSession('tagA', 'sidD', 'alice', 1, proof('d2'))).resolves.toBe('rotated');
      // A refused rotation records no proof: the same proof still works for a good one.
      await expect(store.rotateSession('tagA', 'nope', 'alice', 0, proof('d3'))).resolves.toBe('missing');
      await expect(store.rotateSession('tagA', 'sidD', 'alice', 2, proof('d3'))).resolves.toBe('rotated');
      // The proofs of token endpoints and of requests share one replay space per user.
      await expect(store.recordProof('tagA', 'd3', 60_000)).resolves.toBe(false);
      await expect(store.recordProof('tagA', 'd4', 60_000)).resolves.toBe(true);
      await expect(store.recordProof('tagA', 'd4', 60_000)).resolves.toBe(false);
      await expect(checkToken(store, { tag: 'tagA', sub: 'alice', jti: 'j', dpopProof: { key: 'd4', ttlMs: 60_000 } })).resolves.toMatchObject({ dpopReplayed: true });
    });

    // The ONE per-request check, part by part: the cases of each built-in part, under its name (store/check-part.ts).
    const learning = (overrides: Partial<RiskLearning> = {}): RiskLearning => ({
      country: 'FR', device: 'dev-a', hourOfWeek: 10, nowMs: now, countHour: true, maxDevices: 3, maxCountries: 2, halfLifeMs: 7 * 86_400_000, ttlMs: 60_000, ...overrides,
    });
    const riskOf = async (sub: string, read: RiskRead) => (await checkToken(store, { tag: 'tagC', sub, jti: 'j', risk: read })).risk!;

    const PART_CASES: Record<string, () => void> = {
      [IP_RATE_PART.name]: () => {
        const ipRate = (overrides: Partial<IpRateCount> = {}): IpRateCount => ({
          space: 'ip', ip: '203.0.113.7', limit: 3, ttlMs: 60_000, blockDurationMs: 30_000, algorithm: 'fixed', nowMs: now, ...overrides,
        });
        const counted = (overrides: Partial<IpRateCount> = {}, check: Partial<TokenCheck> = {}) => checkToken(store, { tag: 'tagI', sub: 'ines', jti: 'j', ipRate: ipRate(overrides), ...check });

        it('counts the client address in the same check, on the counter a hit counts', async () => {
          await expect(counted()).resolves.toMatchObject({ ipRate: { totalHits: 1, blocked: false, timeToExpireMs: 60_000 } });
          const { space, ip, ...rate } = ipRate();
          await expect(Promise.resolve(store.hit({ space, key: ip, ...rate }))).resolves.toMatchObject({ totalHits: 2, blocked: false });
          await expect(counted()).resolves.toMatchObject({ ipRate: { totalHits: 3, blocked: false } });
          // Another address, and the same address in another space, are counters of their own; a check without it counts nothing.
          await expect(counted({ ip: '203.0.113.8' })).resolves.toMatchObject({ ipRate: { totalHits: 1 } });
          await expect(counted({ space: 'login' })).resolves.toMatchObject({ ipRate: { totalHits: 1 } });
          await expect(checkToken(store, { tag: 'tagI', sub: 'ines', jti: 'j' })).resolves.not.toHaveProperty('ipRate');
          await expect(counted()).resolves.toMatchObject({ ipRate: { totalHits: 4, blocked: true, timeToBlockExpireMs: 30_000 } });
        });

        it('blocks beyond its limit for blockDurationMs, past the end of the window, then counts afresh', async () => {
          const rate = { limit: 1, ttlMs: 10_000, blockDurationMs: 60_000 };
          await expect(counted(rate)).resolves.toMatchObject({ ipRate: { totalHits: 1, blocked: false } });
          await expect(counted(rate)).resolves.toMatchObject({ ipRate: { totalHits: 2, blocked: true, timeToBlockExpireMs: 60_000 } });
          await expect(counted({ ...rate, nowMs: now + 20_000 })).resolves.toMatchObject({ ipRate: { blocked: true, timeToBlockExpireMs: 40_000 } });
          await expect(counted({ ...rate, nowMs: now + 60_000 })).resolves.toMatchObject({ ipRate: { totalHits: 1, blocked: false, timeToExpireMs: 10_000 } });
        });

        it('without a block beyond the window (blockDurationMs 0), a client over the limit counts again when its window resets', async () => {
          const rate = { limit: 2, ttlMs: 60_000, blockDurationMs: 0 };
          await expect(counted(rate)).resolves.toMatchObject({ ipRate: { totalHits: 1, blocked: false } });
          await expect(counted(rate)).resolves.toMatchObject({ ipRate: { totalHits: 2, blocked: false } });
          await expect(counted(rate)).resolves.toMatchObject({ ipRate: { totalHits: 3, blocked: true, timeToBlockExpireMs: 60_000 } });
          await expect(counted({ ...rate, nowMs: now + 59_999 })).resolves.toMatchObject({ ipRate: { blocked: true, timeToBlockExpireMs: 1 } });
          await expect(counted({ ...rate, nowMs: now + 60_000 })).resolves.toMatchObject({ ipRate: { totalHits: 1, blocked: false, timeToExpireMs: 60_000 } });
        });

        it('counts first, in the check phase: a request a later part refuses (revoked, a replayed proof) still counts its address', async () => {
          await store.revokeToken('tagI', { jti: 'revoked', reason: 'stolen', revokedAtMs: now }, 60_000);
          await expect(counted({}, { jti: 'revoked' })).resolves.toMatchObject({ jtiRevoked: true, ipRate: { totalHits: 1 } });
          await store.recordProof('tagI', 'used', 60_000);
          await expect(counted({}, { dpopProof: { key: 'used', ttlMs: 60_000 } })).resolves.toMatchObject({ dpopReplayed: true, ipRate: { totalHits: 2 } });
          await expect(counted()).resolves.toMatchObject({ jtiRevoked: false, ipRate: { totalHits: 3 } });
        });
      },
      [REVOCATION_PART.name]: () => {
        it('check reports nothing for a fresh token', async () => {
          await expect(checkToken(store, { tag: 'tagA', sub: 'alice', jti: 'j1', sid: 's1' })).resolves.toEqual({
            jtiRevoked: false,
            sessionRevoked: false,
            userNotBeforeMs: 0,
          });
        });

        it('revokes a jti once, with its record', async () => {
          const record = { jti: 'j1', reason: 'stolen', revokedAtMs: now, actor: 'admin', sub: 'alice' };
          await expect(store.revokeToken('tagA', record, 60_000)).resolves.toBe(true);
          await expect(store.revokeToken('tagA', { ...record, reason: 'again' }, 60_000)).resolves.toBe(false);
          await expect(store.getRevocation('tagA', 'j1')).resolves.toEqual(record);
          await expect(checkToken(store, { tag: 'tagA', sub: 'alice', jti: 'j1' })).resolves.toMatchObject({ jtiRevoked: true });
          await expect(checkToken(store, { tag: 'tagA', sub: 'alice', jti: 'j2' })).resolves.toMatchObject({ jtiRevoked: false });
        });

        it('never lowers a user epoch', async () => {
          await expect(store.raiseUserNotBefore('tagA', 'alice', now, 60_000)).resolves.toBe(now);
          await expect(store.raiseUserNotBefore('tagA', 'alice', now - 5000, 60_000)).resolves.toBe(now);
          await expect(checkToken(store, { tag: 'tagA', sub: 'alice', jti: 'j' })).resolves.toMatchObject({ userNotBeforeMs: now });
          await expect(checkToken(store, { tag: 'tagA', sub: 'bob', jti: 'j' })).resolves.toMatchObject({ userNotBeforeMs: 0 });
        });

        it('a revoked token or a replayed proof counts nothing against its user: no rate hit, no anomaly count, no proof recorded', async () => {
          // Found by the attack corpus: holding a revoked token (or a captured DPoP request) must not spend the user's rate
          // limit (a lockout of the real user) nor feed the anomaly baseline (a containment raised against them).
          const userRate = { limit: 100, ttlMs: 60_000, blockDurationMs: 60_000, algorithm: 'fixed' as const, nowMs: now };
          const anomaly: AnomalyCount = { route: 'GET /me', intervalMs: 3_600_000, alpha: 0.3, warmupIntervals: 0, factor: 3, minRequests: 1, maxRoutes: 10, idleTtlMs: 86_400_000, maxGrowth: 1.25, nowMs: now };
          const counted = { userRate, anomaly, authenticatedAtMs: now - 1000 };
          const call = (extra: object) => checkToken(store, { tag: 'tagZ', sub: 'zoe', jti: 'jz', sid: 'sz', ...counted, ...extra });
          await expect(call({})).resolves.toMatchObject({ userRate: { totalHits: 1 }, anomaly: { count: 1 } });

          await store.revokeToken('tagZ', { jti: 'jz-revoked', reason: 'logout', revokedAtMs: now }, 60_000);
          await expect(call({ jti: 'jz-revoked', dpopProof: { key: 'p1', ttlMs: 60_000 } })).resolves.toMatchObject({
            jtiRevoked: true,
            dpopReplayed: false,
            userRate: { totalHits: 0, blocked: false },
            anomaly: { count: 0, alerted: false },
          });
          await store.createSession(session({ tag: 'tagZ', sid: 'sz-revoked', sub: 'zoe' }));
          await store.revokeSession('tagZ', 'sz-revoked', 'logout');
          await expect(call({ sid: 'sz-revoked' })).resolves.toMatchObject({ sessionRevoked: true, userRate: { totalHits: 0 }, anomaly: { count: 0 } });

          // The first use of a proof counts; its replay does not.
          await expect(call({ dpopProof: { key: 'p2', ttlMs: 60_000 } })).resolves.toMatchObject({ dpopReplayed: false, userRate: { totalHits: 2 }, anomaly: { count: 2 } });
          await expect(call({ dpopProof: { key: 'p2', ttlMs: 60_000 } })).resolves.toMatchObject({ dpopReplayed: true, userRate: { totalHits: 0 }, anomaly: { count: 0 } });
          // The proof refused with the revoked token above was not recorded: its first valid use is not a replay.
          await expect(call({ dpopProof: { key: 'p1', ttlMs: 60_000 } })).resolves.toMatchObject({ dpopReplayed: false, userRate: { totalHits: 3 } });

          // A token authenticated at or before the user epoch is refused inside the call; a later one counts.
          await store.raiseUserNotBefore('tagZ', 'zoe', now, 60_000);
          await expect(call({ authenticatedAtMs: now })).resolves.toMatchObject({ userNotBeforeMs: now, userRate: { totalHits: 0 }, anomaly: { count: 0 } });
          await expect(call({ authenticatedAtMs: now + 1 })).resolves.toMatchObject({ userRate: { totalHits: 4 }, anomaly: { count: 4 } });
          // Without authenticatedAtMs the call cannot know (RevocationService.check outside the pipeline counts nothing anyway).
          await expect(call({ authenticatedAtMs: undefined })).resolves.toMatchObject({ userRate: { totalHits: 5 } });
        });
      },
      [DPOP_PART.name]: () => {
        it('records a proof only within the user limit (H2): a refused request leaves no replay record', async () => {
          const userRate = { limit: 2, ttlMs: 60_000, blockDurationMs: 60_000, algorithm: 'fixed' as const, nowMs: now };
          const call = (key: string) => checkToken(store, { tag: 'tagH', sub: 'hugo', jti: 'j', userRate, dpopProof: { key, ttlMs: 60_000 } });
          await expect(call('h1')).resolves.toMatchObject({ dpopReplayed: false, userRate: { blocked: false } });
          await expect(call('h2')).resolves.toMatchObject({ dpopReplayed: false, userRate: { blocked: false } });
          await expect(call('h3')).resolves.toMatchObject({ dpopReplayed: false, userRate: { blocked: true } });
          await expect(store.recordProof('tagH', 'h2', 60_000)).resolves.toBe(false);
          await expect(store.recordProof('tagH', 'h3', 60_000)).resolves.toBe(true);
        });
      },
      [USER_RATE_PART.name]: () => {
        it('counts a per-user rate limit in the same check', async () => {
          const userRate = { limit: 2, ttlMs: 60_000, blockDurationMs: 30_000, algorithm: 'fixed' as const, nowMs: now };
          const hit = () => checkToken(store, { tag: 'tagR', sub: 'rita', jti: 'j', userRate });
          await expect(hit()).resolves.toMatchObject({ userRate: { totalHits: 1, blocked: false, timeToExpireMs: 60_000 } });
          await expect(hit()).resolves.toMatchObject({ userRate: { totalHits: 2, blocked: false } });
          await expect(hit()).resolves.toMatchObject({ userRate: { totalHits: 3, blocked: true, timeToBlockExpireMs: 30_000 } });
          await expect(checkToken(store, { tag: 'tagR', sub: 'other', jti: 'j', userRate })).resolves.toMatchObject({ userRate: { blocked: false } });
          await expect(checkToken(store, { tag: 'tagR', sub: 'rita', jti: 'j' })).resolves.not.toHaveProperty('userRate');
        });

        it("a named counter (a plan's) is the user's own beside the default one: neither spends nor restarts the other's window", async () => {
          const free = { limit: 2, ttlMs: 60_000, blockDurationMs: 60_000, algorithm: 'fixed' as const, nowMs: now };
          const pro = { ...free, limit: 5, ttlMs: 3_600_000, counter: 'pro-Plan_1' };
          const hit = (userRate: UserRateLimitRequest, sub = 'pia') => checkToken(store, { tag: 'tagP', sub, jti: 'j', userRate });
          for (let i = 1; i <= 3; i++) await expect(hit(pro)).resolves.toMatchObject({ userRate: { totalHits: i, timeToExpireMs: 3_600_000 } });
          // The default counter starts at 1 (the plan's hits are not its), and refuses at its own limit.
          await expect(hit(free)).resolves.toMatchObject({ userRate: { totalHits: 1, blocked: false, timeToExpireMs: 60_000 } });
          await expect(hit(free)).resolves.toMatchObject({ userRate: { totalHits: 2, blocked: false } });
          await expect(hit(free)).resolves.toMatchObject({ userRate: { blocked: true } });
          // The plan's window went on from 3 (neither restarted by the lower limit nor blocked by it); another user's is apart.
          await expect(hit(pro)).resolves.toMatchObject({ userRate: { totalHits: 4, blocked: false } });
          await expect(hit(pro, 'other')).resolves.toMatchObject({ userRate: { totalHits: 1 } });
          await expect(hit({ ...pro, counter: 'other' })).resolves.toMatchObject({ userRate: { totalHits: 1 } });
        });
      },
      [ANOMALY_PART.name]: () => {
        const anomaly = (overrides: Partial<AnomalyCount> = {}): AnomalyCount => ({
          // (An unbounded growth here, to show the EWMA's arithmetic; the bound has its own case below.)
          route: 'r1', intervalMs: 60_000, alpha: 0.5, warmupIntervals: 2, factor: 3, minRequests: 4, maxRoutes: 2, idleTtlMs: 600_000, maxGrowth: 100, nowMs: now, ...overrides,
        });
        const count = async (sub: string, overrides: Partial<AnomalyCount> = {}) => (await checkToken(store, { tag: 'tagA2', sub, jti: 'j', anomaly: anomaly(overrides) })).anomaly!;

        it('L3: a baseline grows at most maxGrowth per interval: a ramp just under factor × baseline alerts; without the bound it never did', async () => {
          const t0 = Math.floor(now / 60_000) * 60_000;
          const ramp = { alpha: 0.3, warmupIntervals: 1, factor: 3, minRequests: 20 };
          // The review's ramp: an attacker who sends, each interval, just under factor × the baseline the EWMA alone learns
          // (6, 18, 28, 45, 72, 115, 184: 30× in 6 intervals).
          const counts: number[] = [];
          for (let baseline = 6; counts.length < 7; ) {
            const total = counts.length === 0 ? 6 : Math.floor(ramp.factor * baseline);
            if (counts.length > 0) baseline += ramp.alpha * (total - baseline);
            counts.push(total);
          }
          expect(counts).toEqual([6, 18, 28, 45, 72, 115, 184]);
          const firstAlert = async (sub: string, maxGrowth: number) => {
            for (const [interval, total] of counts.entries()) {
              for (let i = 0; i < total; i++) if ((await count(sub, { ...ramp, maxGrowth, nowMs: t0 + interval * 60_000 + i })).alerted) return interval;
            }
            return -1;
          };
          expect(await firstAlert('unbounded', 100)).toBe(-1);
          expect(await firstAlert('bounded', 1.25)).toBe(2);
          // Below the level where minRequests decides (minRequests / factor), the baseline learns freely: a quiet user is not held back.
          await count('quiet', { ...ramp, maxGrowth: 1.25, nowMs: t0 });
          for (let i = 0; i < 5; i++) await count('quiet', { ...ramp, maxGrowth: 1.25, nowMs: t0 + 60_000 + i });
          const folded = await count('quiet', { ...ramp, maxGrowth: 1.25, nowMs: t0 + 120_000 });
          expect(folded.baseline).toBeCloseTo(1 + 0.3 * (5 - 1), 4);
        });

        it('counts per user × route with an EWMA baseline, and alerts exactly once per interval after the warm-up', async () => {
          const t0 = Math.floor(now / 60_000) * 60_000;
          // Warm-up: 2 intervals of 2 requests.
          for (const interval of [0, 1]) for (let i = 0; i < 2; i++) await count('kai', { nowMs: t0 + interval * 60_000 + i });
          const alerts: boolean[] = [];
          for (let i = 0; i < 10; i++) alerts.push((await count('kai', { nowMs: t0 + 2 * 60_000 + i })).alerted);
          // Baseline 2 (EWMA of 2 and 2): the 7th request (> 3 × 2, and ≥ 4) alerts, once.
          expect(alerts.indexOf(true)).toBe(6);
          expect(alerts.filter(Boolean)).toHaveLength(1);
          await expect(count('kai', { nowMs: t0 + 2 * 60_000 + 20 })).resolves.toMatchObject({ count: 11, baseline: 2, intervals: 2, alerted: false });
          // Another route and another user have their own baselines.
          await expect(count('kai', { route: 'r2', nowMs: t0 + 2 * 60_000 })).resolves.toMatchObject({ count: 1, intervals: 0 });
          await expect(count('lea', { nowMs: t0 + 2 * 60_000 })).resolves.toMatchObject({ count: 1, intervals: 0 });
          // The next interval folds 11 in: baseline 2 + 0.5 × (11 - 2) = 6.5.
          await expect(count('kai', { nowMs: t0 + 3 * 60_000 })).resolves.toMatchObject({ count: 1, baseline: 6.5, intervals: 3 });
          // Empty intervals decay it: folding 1 gives 3.75, then 2 idle intervals × 0.5² = 0.9375.
          const decayed = await count('kai', { nowMs: t0 + 6 * 60_000 });
          expect(decayed.baseline).toBeCloseTo(0.9375, 4);
          expect(decayed.intervals).toBe(6);
        });

        it('keeps at most maxRoutes baselines per user, dropping the least recently counted', async () => {
          const t0 = Math.floor(now / 60_000) * 60_000;
          await count('max', { route: 'a', nowMs: t0 });
          await count('max', { route: 'b', nowMs: t0 + 60_000 });
          await count('max', { route: 'c', nowMs: t0 + 120_000 });
          // 'a' was dropped: it starts again from nothing; 'b' and 'c' kept their counts.
          await expect(count('max', { route: 'c', nowMs: t0 + 120_001 })).resolves.toMatchObject({ count: 2 });
          await expect(count('max', { route: 'a', nowMs: t0 + 120_002 })).resolves.toMatchObject({ count: 1, intervals: 0 });
        });
      },
      [STEP_UP_PART.name]: () => {
        it('records challenges and step-up epochs, never lowering them', async () => {
          await store.recordChallenge('tagC', 'ivan', now, 60_000, 'ctx-a');
          await store.recordChallenge('tagC', 'ivan', now - 10, 60_000, 'ctx-old');
          await expect(riskOf('ivan', { device: 'x', hourOfWeek: 0 })).resolves.toMatchObject({ challengedAtMs: now, challengedContext: 'ctx-a', learned: 0 });
          await expect(store.raiseStepUpBefore('tagC', 'ivan', now, 60_000)).resolves.toBe(now);
          await expect(store.raiseStepUpBefore('tagC', 'ivan', now - 5, 60_000)).resolves.toBe(now);
          await expect(checkToken(store, { tag: 'tagC', sub: 'ivan', jti: 'j', stepUp: true })).resolves.toMatchObject({ stepUpBeforeMs: now });
          await expect(checkToken(store, { tag: 'tagC', sub: 'other', jti: 'j', stepUp: true })).resolves.toMatchObject({ stepUpBeforeMs: 0 });
        });
      },
      [RISK_PART.name]: () => {
        it('reads an empty context profile for a new user (trust on first use starts from nothing)', async () => {
          await expect(riskOf('nobody', { country: 'FR', device: 'd', hourOfWeek: 3 })).resolves.toEqual({
            learned: 0, countrySeenAtMs: 0, deviceSeenAtMs: 0, hourWeight: 0, hourTotal: 0, lastCountryAtMs: 0, challengedAtMs: 0, learnedHour: -1,
          });
        });

        it('learns contexts: countries and devices bounded (least recently seen dropped), hours with their neighbours', async () => {
          await store.learnContext('tagC', 'cleo', learning());
          await store.learnContext('tagC', 'cleo', learning({ country: 'DE', device: 'dev-b', hourOfWeek: 11, nowMs: now + 1000 }));
          const profile = await riskOf('cleo', { country: 'FR', device: 'dev-a', hourOfWeek: 11 });
          expect(profile).toMatchObject({ learned: 2, countrySeenAtMs: now, deviceSeenAtMs: now, lastCountry: 'DE', lastCountryAtMs: now + 1000, learnedHour: Math.floor((now + 1000) / 3_600_000) });
          // hours 10 and 11 are both within ±1 of 11; 10 and 11 of 10; only 11 of 12.
          expect(profile.hourTotal).toBeCloseTo(2, 3);
          expect(profile.hourWeight).toBeCloseTo(2, 3);
          expect((await riskOf('cleo', { device: 'x', hourOfWeek: 13 })).hourWeight).toBeCloseTo(0, 6);
          // A third country: the least recently seen (FR) goes, DE stays.
          await store.learnContext('tagC', 'cleo', learning({ country: 'IT', device: 'dev-c', nowMs: now + 2000, countHour: false }));
          await expect(riskOf('cleo', { country: 'FR', device: 'dev-a', hourOfWeek: 0 })).resolves.toMatchObject({ countrySeenAtMs: 0, deviceSeenAtMs: now });
          await expect(riskOf('cleo', { country: 'DE', device: 'dev-c', hourOfWeek: 0 })).resolves.toMatchObject({ countrySeenAtMs: now + 1000, deviceSeenAtMs: now + 2000 });
          await store.learnContext('tagC', 'cleo', learning({ country: 'IT', device: 'dev-d', nowMs: now + 3000, countHour: false }));
          await expect(riskOf('cleo', { country: 'IT', device: 'dev-a', hourOfWeek: 0 })).resolves.toMatchObject({ deviceSeenAtMs: 0, learned: 4 });
        });

        it('weighs recent hours more (half-life), without rewriting the past', async () => {
          const halfLifeMs = 86_400_000;
          await store.learnContext('tagC', 'hana', learning({ hourOfWeek: 1, halfLifeMs, ttlMs: 10 * halfLifeMs }));
          await store.learnContext('tagC', 'hana', learning({ hourOfWeek: 2, halfLifeMs, nowMs: now + halfLifeMs, ttlMs: 10 * halfLifeMs }));
          const profile = await riskOf('hana', { device: 'x', hourOfWeek: 3 });
          expect(profile.hourTotal).toBeCloseTo(3, 3);
          expect(profile.hourWeight).toBeCloseTo(2, 3);
        });

        it('a challenge keeps the context it was raised for; a login from another context withdraws it, one from the same keeps it', async () => {
          await store.recordChallenge('tagC', 'jade', now, 60_000, 'ctx-phone');
          await store.recordChallenge('tagC', 'jade', now + 5, 60_000, 'ctx-tablet');
          await expect(riskOf('jade', { device: 'x', hourOfWeek: 0 })).resolves.toMatchObject({ challengedAtMs: now + 5, challengedContext: 'ctx-tablet' });
          // An allowed request's learning (not a login) keeps it; a login from the challenged context too.
          await store.learnContext('tagC', 'jade', learning());
          await store.learnContext('tagC', 'jade', learning({ login: { contextKey: 'ctx-tablet' } }));
          await expect(riskOf('jade', { device: 'x', hourOfWeek: 0 })).resolves.toMatchObject({ challengedAtMs: now + 5, challengedContext: 'ctx-tablet', learned: 2 });
          // A login from elsewhere: the challenge stays dated, but can no longer be passed anywhere.
          await store.learnContext('tagC', 'jade', learning({ login: { contextKey: 'ctx-laptop' } }));
          const withdrawn = await riskOf('jade', { device: 'x', hourOfWeek: 0 });
          expect(withdrawn).toMatchObject({ challengedAtMs: now + 5, learned: 3 });
          expect(withdrawn.challengedContext).toBeUndefined();
          // A later challenge records its own context again.
          await store.recordChallenge('tagC', 'jade', now + 10, 60_000, 'ctx-phone');
          await expect(riskOf('jade', { device: 'x', hourOfWeek: 0 })).resolves.toMatchObject({ challengedAtMs: now + 10, challengedContext: 'ctx-phone' });
        });
      },
    };

    describe('check, part by part', () => {
      it('has cases for every built-in part, and for no other (a part cannot be registered without its contract cases)', async () => {
        expect(Object.keys(PART_CASES).sort()).toEqual(BUILT_IN_CHECK_PARTS.map((part) => part.name).sort());
      });
      for (const [part, cases] of Object.entries(PART_CASES)) describe(part, cases);
    });

    it('lists events newest first, filtered and bounded', async () => {
      for (let i = 0; i < 30; i++) {
        await store.appendEvent({ id: `e${i}`, type: i % 2 ? 'token_revoked' : 'user_revoked', at: new Date(now + i).toISOString(), sub: i % 3 ? 'alice' : 'bob' });
      }
      const latest = await store.listEvents({ limit: 3 });
      expect(latest.map((event) => event.id)).toEqual(['e29', 'e28', 'e27']);
      const filtered = await store.listEvents({ type: 'token_revoked', sub: 'bob', limit: 100 });
      expect(filtered.map((event) => event.id)).toEqual(['e27', 'e21', 'e15', 'e9', 'e3']);
      const recent = await store.listEvents({ sinceMs: now + 26, limit: 100 });
      expect(recent.map((event) => event.id)).toEqual(['e29', 'e28', 'e27', 'e26']);
    });
  });
}

interface Matchers<R> {
  toBe(expected: unknown): R;
  toEqual(expected: unknown): R;
  toMatchObject(expected: object): R;
  toBeUndefined(): R;
  toHaveProperty(path: string): R;
  toHaveLength(length: number): R;
  toBeGreaterThan(expected: number): R;
  toBeLessThanOrEqual(expected: number): R;
  toBeCloseTo(expected: number, digits?: number): R;
}

/** The part of Jest's (and Vitest's) API the contract uses. */
interface TestRunner {
  describe(name: string, body: () => void): void;
  it(name: string, test: () => Promise<void>): void;
  beforeEach(hook: () => Promise<void>): void;
  afterEach(hook: () => Promise<void>): void;
  expect: {
    (actual: unknown): Matchers<void> & { readonly not: Matchers<void>; readonly resolves: Matchers<Promise<void>> & { readonly not: Matchers<Promise<void>> } };
    any(type: unknown): unknown;
  };
}

/** The test runner's globals, read when the contract is defined (importing this module needs no runner). */
function testRunner(): TestRunner {
  const scope = globalThis as unknown as Partial<Record<keyof TestRunner, unknown>>;
  const missing = (['describe', 'it', 'expect', 'beforeEach', 'afterEach'] as const).filter((global) => typeof scope[global] !== 'function');
  if (missing.length > 0) {
    throw new TypeError(`jwt-defense: runDefenseStoreContract() defines tests with the test runner's globals, and ${missing.join(', ')} is missing: call it at the top level of a Jest test file (or a Vitest one with globals: true)`);
  }
  return scope as TestRunner;
}

import fc from 'fast-check';
import { StoreCapacityError } from '../defense-store.errors.js';
import { MemoryDefenseStore } from './memory-defense.store.js';
import { checkToken } from '../contract/token-check.js';

const hit = { limit: 3, ttlMs: 60_000, blockDurationMs: 60_000, algorithm: 'fixed' as const };

describe('MemoryDefenseStore', () => {
  it('never forgets an unexpired revocation: when full it refuses the new one, reports it, and keeps every old one', async () => {
    const full: string[] = [];
    const store = new MemoryDefenseStore({ maxRevocations: 100, onFull: (space) => full.push(space) });
    // 100 users' revocations (one user alone is held to its share: see below).
    for (let i = 0; i < 100; i++) await store.revokeToken(`t${i}`, { jti: `j${i}`, reason: 'r', revokedAtMs: 0 }, 60_000);
    await expect(store.revokeToken('t100', { jti: 'j100', reason: 'r', revokedAtMs: 0 }, 60_000)).rejects.toBeInstanceOf(StoreCapacityError);
    expect(full).toEqual(['revocations']);
    for (let i = 0; i < 100; i++) await expect(checkToken(store, { tag: `t${i}`, sub: 's', jti: `j${i}` })).resolves.toMatchObject({ jtiRevoked: true });
    expect(store.sizes.revocations).toBe(100);
  });

  it('makes room by dropping expired entries only', async () => {
    let now = 1_000_000;
    const store = new MemoryDefenseStore({ maxRevocations: 10, now: () => now });
    for (let i = 0; i < 10; i++) await store.revokeToken(`t${i}`, { jti: `old${i}`, reason: 'r', revokedAtMs: now }, i < 5 ? 1000 : 60_000);
    now += 1000;
    for (let i = 0; i < 5; i++) await store.revokeToken(`n${i}`, { jti: `new${i}`, reason: 'r', revokedAtMs: now }, 60_000);
    for (let i = 5; i < 10; i++) await expect(store.getRevocation(`t${i}`, `old${i}`)).resolves.toMatchObject({ reason: 'r' });
    await expect(store.revokeToken('x', { jti: 'one-more', reason: 'r', revokedAtMs: now }, 60_000)).rejects.toBeInstanceOf(StoreCapacityError);
  });

  it('never forgets a session revocation or a user epoch, whatever the rate counters do', async () => {
    const store = new MemoryDefenseStore({ maxSessions: 5, maxUserEpochs: 5, maxCounters: 10 });
    const session = { sid: 's0', tag: 't', sub: 'alice', key: 'k', generation: 0, createdAtMs: Date.now(), expiresAtMs: Date.now() + 60_000, claims: '{}' };
    await store.createSession(session);
    await store.revokeSession('t', 's0', 'logout');
    await store.raiseUserNotBefore('t', 'alice', 123, 60_000);
    // (Other users below: one user alone is held to its share of each space.)
    // 100 000 distinct users' requests: each counts a per-user rate in the same check.
    for (let i = 0; i < 100_000; i++) {
      await checkToken(store, { tag: `u${i}`, sub: `user${i}`, jti: 'j', userRate: { ...hit, nowMs: Date.now() } });
    }
    await expect(checkToken(store, { tag: 't', sub: 'alice', jti: 'j', sid: 's0' })).resolves.toMatchObject({ sessionRevoked: true, userNotBeforeMs: 123 });
    for (let i = 1; i < 5; i++) await store.createSession({ ...session, tag: `t${i}`, sub: `user${i}`, sid: `s${i}` });
    await expect(store.createSession({ ...session, tag: 't5', sub: 'user5', sid: 's5' })).rejects.toBeInstanceOf(StoreCapacityError);
    for (let i = 1; i < 5; i++) await store.raiseUserNotBefore(`t${i}`, `u${i}`, 1, 60_000);
    await expect(store.raiseUserNotBefore('t5', 'u5', 1, 60_000)).rejects.toBeInstanceOf(StoreCapacityError);
    expect(store.sizes['counters:user']).toBe(10);
  });

  it('a flood of distinct client addresses never lifts an active username block', async () => {
    const store = new MemoryDefenseStore({ maxCounters: 50 });
    const nowMs = Date.now();
    const username = { space: 'body', key: 'alice', ...hit, nowMs };
    for (let i = 0; i < 3; i++) expect((await store.hit(username)).blocked).toBe(false);
    expect((await store.hit(username)).blocked).toBe(true);
    // Spoofed addresses through a trusted proxy: other spaces, and even in the same space idle counters go first.
    for (let i = 0; i < 101_000; i++) await store.hit({ space: 'ip', key: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`, ...hit, nowMs });
    for (let i = 0; i < 200; i++) await store.hit({ space: 'body', key: `user${i}`, ...hit, nowMs });
    await expect(Promise.resolve().then(() => store.hit(username))).resolves.toMatchObject({ blocked: true });
    expect(store.sizes['counters:ip']).toBe(50);
  });

  it('refuses a new counter rather than drop an active block when only blocks are left', async () => {
    const full: string[] = [];
    const store = new MemoryDefenseStore({ maxCounters: 3, onFull: (space) => full.push(space) });
    const nowMs = Date.now();
    for (const key of ['a', 'b', 'c']) for (let i = 0; i < 4; i++) await store.hit({ space: 'ip', key, ...hit, nowMs });
    await expect(Promise.resolve().then(() => store.hit({ space: 'ip', key: 'd', ...hit, nowMs }))).rejects.toBeInstanceOf(StoreCapacityError);
    expect(full).toEqual(['counters:ip']);
    await expect(Promise.resolve().then(() => store.hit({ space: 'ip', key: 'a', ...hit, nowMs }))).resolves.toMatchObject({ blocked: true });
  });

  it('stays bounded with 100k users and 1k routes: context profiles and baselines evict the least recently used', async () => {
    const store = new MemoryDefenseStore({ maxProfiles: 50 });
    const nowMs = Date.now();
    const learning = { device: 'd', hourOfWeek: 1, nowMs, countHour: true, maxDevices: 20, maxCountries: 20, halfLifeMs: 1e9, ttlMs: 1e9 };
    const anomaly = { intervalMs: 60_000, alpha: 0.3, warmupIntervals: 24, factor: 3, minRequests: 20, maxRoutes: 20, idleTtlMs: 1e9, maxGrowth: 1.25, nowMs };
    for (let i = 0; i < 100_000; i++) {
      await store.learnContext(`t${i}`, `user${i}`, learning);
      await checkToken(store, { tag: `t${i}`, sub: `user${i}`, jti: 'j', risk: { device: 'd', hourOfWeek: 1 }, anomaly: { ...anomaly, route: 'r' } });
    }
    for (let route = 0; route < 1000; route++) await checkToken(store, { tag: 't', sub: 'busy', jti: 'j', anomaly: { ...anomaly, route: `route-${route}` } });
    expect(store.sizes.profiles).toBe(50);
    expect(store.sizes.baselines).toBe(50);
    expect(store.sizes.baselineRoutes).toBeLessThanOrEqual(49 + 20);
    // The most recent ones are kept.
    await expect(checkToken(store, { tag: 't99999', sub: 'user99999', jti: 'j', risk: { device: 'd', hourOfWeek: 1 } })).resolves.toMatchObject({ risk: { learned: 1 } });
    await expect(checkToken(store, { tag: 't0', sub: 'user0', jti: 'j', risk: { device: 'd', hourOfWeek: 1 } })).resolves.toMatchObject({ risk: { learned: 0 } });
  });

  it('expires by timestamp, without a timer per entry', async () => {
    let now = 1_000_000;
    const store = new MemoryDefenseStore({ now: () => now });
    await store.revokeToken('t', { jti: 'a', reason: 'r', revokedAtMs: now }, 1000);
    now += 999;
    await expect(checkToken(store, { tag: 't', sub: 's', jti: 'a' })).resolves.toMatchObject({ jtiRevoked: true });
    now += 1;
    await expect(checkToken(store, { tag: 't', sub: 's', jti: 'a' })).resolves.toMatchObject({ jtiRevoked: false });
  });

  it('keeps a bounded ring of events, newest first', async () => {
    const store = new MemoryDefenseStore({ maxEvents: 5 });
    for (let i = 0; i < 12; i++) await store.appendEvent({ id: `e${i}`, type: 'token_revoked', at: '' });
    expect((await store.listEvents({ limit: 100 })).map((event) => event.id)).toEqual(['e11', 'e10', 'e9', 'e8', 'e7']);
  });
});

describe('MemoryDefenseStore: one principal can only ever make room among its own entries', () => {
  const ttlMs = 3_600_000;

  it("one user's revocations stop at its share (refused, never evicting), and every other user's still go in", async () => {
    const full: string[] = [];
    const store = new MemoryDefenseStore({ maxRevocations: 100, maxPerPrincipal: 10, onFull: (space) => full.push(space) });
    for (let i = 0; i < 10; i++) await expect(store.revokeToken('mallory', { jti: `m${i}`, reason: 'r', revokedAtMs: 0 }, ttlMs)).resolves.toBe(true);
    await expect(store.revokeToken('mallory', { jti: 'm10', reason: 'r', revokedAtMs: 0 }, ttlMs)).rejects.toBeInstanceOf(StoreCapacityError);
    expect(full).toEqual(["revocations (one principal's share)"]);
    for (let i = 0; i < 10; i++) await expect(store.getRevocation('mallory', `m${i}`)).resolves.toMatchObject({ jti: `m${i}` });
    for (let i = 0; i < 50; i++) await expect(store.revokeToken(`user${i}`, { jti: `j${i}`, reason: 'r', revokedAtMs: 0 }, ttlMs)).resolves.toBe(true);
  });

  it('a share is never more than half a space: one principal always leaves room for the others', async () => {
    const store = new MemoryDefenseStore({ maxDpopProofs: 8, maxPerPrincipal: 1000 });
    for (let i = 0; i < 4; i++) await expect(store.recordProof('mallory', `p${i}`, ttlMs)).resolves.toBe(true);
    await expect(store.recordProof('mallory', 'p4', ttlMs)).rejects.toBeInstanceOf(StoreCapacityError);
    await expect(store.recordProof('alice', 'a0', ttlMs)).resolves.toBe(true);
  });

  it('one client inventing usernames only ever pushes out its own counters, never a username another client is counting', async () => {
    const store = new MemoryDefenseStore({ maxCounters: 1000, maxPerPrincipal: 20 });
    const nowMs = Date.now();
    const body = (key: string, principal: string) => ({ space: 'body', key, principal, ...hit, nowMs });
    for (let i = 0; i < 2; i++) await store.hit(body('alice', '198.51.100.7'));
    for (let i = 0; i < 5000; i++) await store.hit(body(`guess${i}`, '203.0.113.9'));
    expect(store.sizes['counters:body']).toBe(21);
    // alice's counter kept counting: her third attempt is the last before the block.
    await expect(Promise.resolve().then(() => store.hit(body('alice', '198.51.100.7')))).resolves.toMatchObject({ totalHits: 3, blocked: false });
    await expect(Promise.resolve().then(() => store.hit(body('alice', '198.51.100.7')))).resolves.toMatchObject({ blocked: true });
  });

  it("one client flooding the event log only replaces its own events; the API's own are never a client's share", async () => {
    const store = new MemoryDefenseStore({ maxEvents: 100, maxPerPrincipal: 10 });
    await store.appendEvent({ id: 'alice-1', type: 'token_revoked', at: '', sub: 'alice' });
    await store.appendEvent({ id: 'incident', type: 'global_revoked', at: '' });
    for (let i = 0; i < 1000; i++) await store.appendEvent({ id: `flood${i}`, type: 'token_rejected', at: '', ip: '203.0.113.9' });
    const ids = (await store.listEvents({ limit: 1000 })).map((event) => event.id);
    expect(ids).toEqual([...Array.from({ length: 10 }, (_, i) => `flood${999 - i}`), 'incident', 'alice-1']);
  });

  it('H2: a DPoP proof is recorded only within the user limit, so a refused flood cannot fill the replay space, and others are never refused', async () => {
    const store = new MemoryDefenseStore({ maxDpopProofs: 1000, maxPerPrincipal: 100 });
    const nowMs = Date.now();
    const userRate = { limit: 5, ttlMs: 60_000, blockDurationMs: 60_000, algorithm: 'fixed' as const, nowMs };
    const results = [];
    for (let i = 0; i < 10_000; i++) results.push(await checkToken(store, { tag: 'mallory', sub: 'mallory', jti: 'j', userRate, dpopProof: { key: `m${i}`, ttlMs } }));
    expect(results.filter((result) => !result.userRate!.blocked)).toHaveLength(5);
    // Only the five allowed requests' proofs were recorded: the five first are replays now, the refused ones are not.
    for (let i = 0; i < 5; i++) await expect(store.recordProof('mallory', `m${i}`, ttlMs)).resolves.toBe(false);
    await expect(store.recordProof('mallory', 'm5', ttlMs)).resolves.toBe(true);
    // Without any limit in front, the user is held to its share; another user's proofs still go in.
    for (let i = 0; i < 200; i++) await checkToken(store, { tag: 'mallory', sub: 'mallory', jti: 'j', dpopProof: { key: `x${i}`, ttlMs } }).catch(() => undefined);
    await expect(checkToken(store, { tag: 'alice', sub: 'alice', jti: 'j', dpopProof: { key: 'a0', ttlMs } })).resolves.toMatchObject({ dpopReplayed: false });
    await expect(checkToken(store, { tag: 'alice', sub: 'alice', jti: 'j', dpopProof: { key: 'a0', ttlMs } })).resolves.toMatchObject({ dpopReplayed: true });
  });

  it('caps live sessions per user: beyond the cap the oldest is revoked, kept as revoked only as long as its access tokens live', async () => {
    let now = 1_000_000;
    const store = new MemoryDefenseStore({ now: () => now });
    const session = (sid: string) => ({ sid, tag: 't', sub: 'alice', key: 'k', generation: 0, createdAtMs: now, expiresAtMs: now + ttlMs, claims: '{}' });
    const limits = { maxPerUser: 3, revokedRetainMs: 60_000 };
    for (const sid of ['s1', 's2', 's3']) await expect(store.createSession(session(sid), limits)).resolves.toEqual([]);
    await store.revokeSession('t', 's2', 'logout', 60_000);
    await expect(store.createSession(session('s4'), limits)).resolves.toEqual([]);
    await expect(store.createSession(session('s5'), limits)).resolves.toEqual(['s1']);
    await expect(store.getSession('t', 's1')).resolves.toMatchObject({ revokedReason: 'session_limit' });
    await expect(checkToken(store, { tag: 't', sub: 'alice', jti: 'j', sid: 's1' })).resolves.toMatchObject({ sessionRevoked: true });
    now += 60_000;
    await expect(store.getSession('t', 's1')).resolves.toBeUndefined();
    await expect(store.getSession('t', 's3')).resolves.toMatchObject({ generation: 0 });
    await store.cleanupExpired(1000);
    expect(store.sizes.sessions).toBe(3);
  });
});

/**
 * The class of H2 and M8, as a property: whatever one principal does to the memory store (any sequence of its own
 * operations, time passing), another principal's operations never fail and its state is never lost. The attacker may
 * be refused (its share is full): only its own requests.
 */
describe('MemoryDefenseStore: any sequence of one principal\'s operations', () => {
  const HOUR = 3_600_000;
  const VICTIM_IP = '198.51.100.7';
  const ATTACKER_IP = '203.0.113.9';
  const limit = { limit: 5, ttlMs: HOUR, blockDurationMs: HOUR, algorithm: 'fixed' as const };
  const learning = (nowMs: number, device: string) => ({ device, country: 'FR', hourOfWeek: 3, nowMs, countHour: true, maxDevices: 5, maxCountries: 5, halfLifeMs: 1e9, ttlMs: 1e9 });
  const anomaly = (nowMs: number, route: string) => ({ route, intervalMs: HOUR, alpha: 0.3, warmupIntervals: 24, factor: 3, minRequests: 20, maxRoutes: 5, idleTtlMs: 1e9, maxGrowth: 1.25, nowMs });

  type Op = { kind: number; n: number; advanceMs: number };
  const op = fc.record({ kind: fc.nat(11), n: fc.nat(1_000_000), advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 20_000 })) });

  it("never makes another principal's operation fail or lose its state", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 400, size: 'max' }), async (ops: Op[]) => {
        let now = 10_000_000;
        const store = new MemoryDefenseStore({
          now: () => now, maxRevocations: 24, maxSessions: 24, maxUserEpochs: 24, maxCounters: 24, maxProfiles: 24, maxDpopProofs: 24, maxEvents: 24, maxPerPrincipal: 6,
        });
        // The victim's state, made first.
        await store.revokeToken('victim', { jti: 'v-jti', reason: 'logout', revokedAtMs: now }, HOUR);
        await store.createSession({ sid: 'v-sid', tag: 'victim', sub: 'victim', key: 'k', generation: 0, createdAtMs: now, expiresAtMs: now + HOUR, claims: '{}' }, { maxPerUser: 3, revokedRetainMs: HOUR });
        await store.raiseUserNotBefore('victim', 'victim', now - 1, HOUR);
        for (let i = 0; i < 2; i++) await store.hit({ space: 'body', key: 'victim-name', principal: VICTIM_IP, ...limit, nowMs: now });
        await store.hit({ space: 'ip', key: VICTIM_IP, ...limit, nowMs: now });
        await store.recordProof('victim', 'v-proof', HOUR);
        await store.appendEvent({ id: 'v-event', type: 'token_revoked', at: new Date(now).toISOString(), sub: 'victim' });
        await store.learnContext('victim', 'victim', learning(now, 'v-device'));

        // Whatever the attacker does, in its own name.
        let unique = 0;
        for (const { kind, n, advanceMs } of ops) {
          now += advanceMs;
          const id = `${n}-${unique++}`;
          const attempts: Array<() => unknown> = [
            () => store.revokeToken('mallory', { jti: `m-${id}`, reason: 'r', revokedAtMs: now }, 1 + (n % HOUR)),
            () => store.createSession({ sid: `m-${id}`, tag: 'mallory', sub: 'mallory', key: 'k', generation: 0, createdAtMs: now, expiresAtMs: now + HOUR, claims: '{}' }, { maxPerUser: 3, revokedRetainMs: 1 + (n % HOUR) }),
            () => store.revokeSession('mallory', `m-${n % 50}`, 'logout', 1 + (n % HOUR)),
            () => store.raiseUserNotBefore('mallory', `mallory-${n % 3}`, now, 1 + (n % HOUR)),
            () => store.hit({ space: 'body', key: `guess-${id}`, principal: ATTACKER_IP, ...limit, nowMs: now }),
            () => store.hit({ space: 'ip', key: ATTACKER_IP, ...limit, nowMs: now }),
            () => store.recordProof('mallory', `m-${id}`, 1 + (n % HOUR)),
            () => checkToken(store, { tag: 'mallory', sub: 'mallory', jti: `m-${n % 10}`, userRate: { ...limit, nowMs: now }, dpopProof: { key: `c-${id}`, ttlMs: 1 + (n % HOUR) }, anomaly: anomaly(now, `r${n % 9}`) }),
            () => store.appendEvent({ id: `m-${id}`, type: 'token_rejected', at: new Date(now).toISOString(), ip: ATTACKER_IP }),
            () => store.appendEvent({ id: `m-${id}`, type: 'rate_limited', at: new Date(now).toISOString(), sub: 'mallory' }),
            () => store.learnContext('mallory', 'mallory', learning(now, `m-device-${n % 20}`)),
            () => store.rotateSession('mallory', `m-${n % 50}`, 'mallory', n % 3, { globalNotBeforeMs: 0, nowMs: now, reuseGraceMs: 0, dpopProof: { key: `r-${id}`, ttlMs: HOUR } }),
          ];
          await Promise.resolve().then(attempts[kind]).catch((error: unknown) => {
            // Only the attacker's own requests may be refused, and only for its full share.
            if (!(error instanceof StoreCapacityError)) throw error;
          });
        }

        // The victim's state is all there...
        await expect(store.getRevocation('victim', 'v-jti')).resolves.toMatchObject({ reason: 'logout' });
        const victimSession = await store.getSession('victim', 'v-sid');
        expect(victimSession).toMatchObject({ sid: 'v-sid', generation: 0 });
        expect(victimSession!.revokedReason).toBeUndefined();
        await expect(checkToken(store, { tag: 'victim', sub: 'victim', jti: 'v-jti', sid: 'v-sid', risk: { country: 'FR', device: 'v-device', hourOfWeek: 3 } })).resolves.toMatchObject({
          jtiRevoked: true,
          sessionRevoked: false,
          userNotBeforeMs: 10_000_000 - 1,
          risk: { learned: 1, deviceSeenAtMs: 10_000_000 },
        });
        await expect(Promise.resolve().then(() => store.hit({ space: 'body', key: 'victim-name', principal: VICTIM_IP, ...limit, nowMs: now }))).resolves.toMatchObject({ totalHits: 3 });
        await expect(store.recordProof('victim', 'v-proof', HOUR)).resolves.toBe(false);
        expect((await store.listEvents({ limit: 1000, sub: 'victim' })).map((event) => event.id)).toEqual(['v-event']);
        // ...and its new operations all succeed.
        await expect(store.revokeToken('victim', { jti: 'v-jti-2', reason: 'r', revokedAtMs: now }, HOUR)).resolves.toBe(true);
        await expect(store.createSession({ sid: 'v-sid-2', tag: 'victim', sub: 'victim', key: 'k', generation: 0, createdAtMs: now, expiresAtMs: now + HOUR, claims: '{}' }, { maxPerUser: 3, revokedRetainMs: HOUR })).resolves.toEqual([]);
        await expect(store.recordProof('victim', 'v-proof-2', HOUR)).resolves.toBe(true);
        await expect(checkToken(store, { tag: 'victim', sub: 'victim', jti: 'v-jti-3', userRate: { ...limit, nowMs: now }, dpopProof: { key: 'v-proof-3', ttlMs: HOUR } })).resolves.toMatchObject({ dpopReplayed: false, userRate: { blocked: false } });
        await expect(Promise.resolve().then(() => store.hit({ space: 'ip', key: VICTIM_IP, ...limit, nowMs: now }))).resolves.toMatchObject({ blocked: false });
        await expect(store.raiseUserNotBefore('victim', 'victim-2', now, HOUR)).resolves.toBe(now);
      }),
      {
        numRuns: 150,
        // A flood of each kind alone, beyond every capacity: the plainest ways to fill a space.
        examples: Array.from({ length: 12 }, (_, kind) => [Array.from({ length: 40 }, (_, n) => ({ kind, n, advanceMs: 0 }))] as [Op[]]),
      },
    );
  });
});

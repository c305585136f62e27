import { StoreCapacityError } from '../defense-store.errors.js';
import { MemoryDefenseStore } from './memory-defense.store.js';

const hit = { limit: 3, ttlMs: 60_000, blockDurationMs: 60_000, algorithm: 'fixed' as const };

describe('MemoryDefenseStore', () => {
  it('never forgets an unexpired revocation: when full it refuses the new one, reports it, and keeps every old one', async () => {
    const full: string[] = [];
    const store = new MemoryDefenseStore({ maxRevocations: 100, onFull: (space) => full.push(space) });
    for (let i = 0; i < 100; i++) await store.revokeToken('t', { jti: `j${i}`, reason: 'r', revokedAtMs: 0 }, 60_000);
    await expect(store.revokeToken('t', { jti: 'j100', reason: 'r', revokedAtMs: 0 }, 60_000)).rejects.toBeInstanceOf(StoreCapacityError);
    expect(full).toEqual(['revocations']);
    for (let i = 0; i < 100; i++) await expect(store.check({ tag: 't', sub: 's', jti: `j${i}` })).resolves.toMatchObject({ jtiRevoked: true });
    expect(store.sizes.revocations).toBe(100);
  });

  it('makes room by dropping expired entries only', async () => {
    let now = 1_000_000;
    const store = new MemoryDefenseStore({ maxRevocations: 10, now: () => now });
    for (let i = 0; i < 10; i++) await store.revokeToken('t', { jti: `old${i}`, reason: 'r', revokedAtMs: now }, i < 5 ? 1000 : 60_000);
    now += 1000;
    for (let i = 0; i < 5; i++) await store.revokeToken('t', { jti: `new${i}`, reason: 'r', revokedAtMs: now }, 60_000);
    for (let i = 5; i < 10; i++) await expect(store.getRevocation('t', `old${i}`)).resolves.toMatchObject({ reason: 'r' });
    await expect(store.revokeToken('t', { jti: 'one-more', reason: 'r', revokedAtMs: now }, 60_000)).rejects.toBeInstanceOf(StoreCapacityError);
  });

  it('never forgets a session revocation or a user epoch, whatever the rate counters do', async () => {
    const store = new MemoryDefenseStore({ maxSessions: 5, maxUserEpochs: 5, maxCounters: 10 });
    const session = { sid: 's0', tag: 't', sub: 'alice', key: 'k', generation: 0, createdAtMs: Date.now(), expiresAtMs: Date.now() + 60_000, claims: '{}' };
    await store.createSession(session);
    await store.revokeSession('t', 's0', 'logout');
    await store.raiseUserNotBefore('t', 'alice', 123, 60_000);
    // 100 000 distinct users' requests: each counts a per-user rate in the same check.
    for (let i = 0; i < 100_000; i++) {
      await store.check({ tag: `u${i}`, sub: `user${i}`, jti: 'j', userRate: { ...hit, nowMs: Date.now() } });
    }
    await expect(store.check({ tag: 't', sub: 'alice', jti: 'j', sid: 's0' })).resolves.toMatchObject({ sessionRevoked: true, userNotBeforeMs: 123 });
    for (let i = 1; i < 5; i++) await store.createSession({ ...session, sid: `s${i}` });
    await expect(store.createSession({ ...session, sid: 's5' })).rejects.toBeInstanceOf(StoreCapacityError);
    for (let i = 1; i < 5; i++) await store.raiseUserNotBefore('t', `u${i}`, 1, 60_000);
    await expect(store.raiseUserNotBefore('t', 'u5', 1, 60_000)).rejects.toBeInstanceOf(StoreCapacityError);
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
    await expect(store.hit(username)).resolves.toMatchObject({ blocked: true });
    expect(store.sizes['counters:ip']).toBe(50);
  });

  it('refuses a new counter rather than drop an active block when only blocks are left', async () => {
    const full: string[] = [];
    const store = new MemoryDefenseStore({ maxCounters: 3, onFull: (space) => full.push(space) });
    const nowMs = Date.now();
    for (const key of ['a', 'b', 'c']) for (let i = 0; i < 4; i++) await store.hit({ space: 'ip', key, ...hit, nowMs });
    await expect(store.hit({ space: 'ip', key: 'd', ...hit, nowMs })).rejects.toBeInstanceOf(StoreCapacityError);
    expect(full).toEqual(['counters:ip']);
    await expect(store.hit({ space: 'ip', key: 'a', ...hit, nowMs })).resolves.toMatchObject({ blocked: true });
  });

  it('stays bounded with 100k users and 1k routes: context profiles and baselines evict the least recently used', async () => {
    const store = new MemoryDefenseStore({ maxProfiles: 50 });
    const nowMs = Date.now();
    const learning = { device: 'd', hourOfWeek: 1, nowMs, countHour: true, maxDevices: 20, maxCountries: 20, halfLifeMs: 1e9, ttlMs: 1e9 };
    const anomaly = { intervalMs: 60_000, alpha: 0.3, warmupIntervals: 24, factor: 3, minRequests: 20, maxRoutes: 20, idleTtlMs: 1e9, nowMs };
    for (let i = 0; i < 100_000; i++) {
      await store.learnContext(`t${i}`, `user${i}`, learning);
      await store.check({ tag: `t${i}`, sub: `user${i}`, jti: 'j', risk: { device: 'd', hourOfWeek: 1 }, anomaly: { ...anomaly, route: 'r' } });
    }
    for (let route = 0; route < 1000; route++) await store.check({ tag: 't', sub: 'busy', jti: 'j', anomaly: { ...anomaly, route: `route-${route}` } });
    expect(store.sizes.profiles).toBe(50);
    expect(store.sizes.baselines).toBe(50);
    expect(store.sizes.baselineRoutes).toBeLessThanOrEqual(49 + 20);
    // The most recent ones are kept.
    await expect(store.check({ tag: 't99999', sub: 'user99999', jti: 'j', risk: { device: 'd', hourOfWeek: 1 } })).resolves.toMatchObject({ risk: { learned: 1 } });
    await expect(store.check({ tag: 't0', sub: 'user0', jti: 'j', risk: { device: 'd', hourOfWeek: 1 } })).resolves.toMatchObject({ risk: { learned: 0 } });
  });

  it('expires by timestamp, without a timer per entry', async () => {
    let now = 1_000_000;
    const store = new MemoryDefenseStore({ now: () => now });
    await store.revokeToken('t', { jti: 'a', reason: 'r', revokedAtMs: now }, 1000);
    now += 999;
    await expect(store.check({ tag: 't', sub: 's', jti: 'a' })).resolves.toMatchObject({ jtiRevoked: true });
    now += 1;
    await expect(store.check({ tag: 't', sub: 's', jti: 'a' })).resolves.toMatchObject({ jtiRevoked: false });
  });

  it('keeps a bounded ring of events, newest first', async () => {
    const store = new MemoryDefenseStore({ maxEvents: 5 });
    for (let i = 0; i < 12; i++) await store.appendEvent({ id: `e${i}`, type: 'token_revoked', at: '' });
    expect((await store.listEvents({ limit: 100 })).map((event) => event.id)).toEqual(['e11', 'e10', 'e9', 'e8', 'e7']);
  });
});

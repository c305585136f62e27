import { Redis } from 'ioredis';
import type { AnomalyCount } from '@jwt-defense/core/store';
import { RedisDefenseStore, RedisThrottlerStorage } from '@jwt-defense/core/redis';
import { aclRulesFromDoc, redisVersion } from './support/redis-acl.js';
import { RedisClusterServer, RedisServer } from './support/redis-server.js';
import { checkToken } from '../libs/jwt-defense/src/store/contract/token-check.js';

// The least-privilege Redis user of docs/infrastructure.md, taken from the doc itself: every operation of the store
// and of the throttler storage runs as that user (every Lua branch that calls Redis included), on standalone and on
// Cluster, and Redis's ACL LOG must stay empty. The same user is refused what the module never needs.

const PASSWORD = 'acl-test-password-0123456789';

const anomaly = (route: string, nowMs: number): AnomalyCount => ({
  route,
  intervalMs: 60_000,
  alpha: 0.3,
  warmupIntervals: 0,
  factor: 3,
  minRequests: 1,
  maxRoutes: 1,
  idleTtlMs: 60_000,
  maxGrowth: 1.25,
  nowMs,
});

/**
 * Every port method of the store, and the throttler storage, with the inputs that reach every `redis.call` of the
 * scripts (the anomaly and context evictions, the refresh reuse branch, the cleanup of a key without TTL).
 * `plantStaleKey` writes, as an admin, a key of ours without TTL (the module never writes one) for the cleanup.
 */
async function exerciseEveryCommand(store: RedisDefenseStore, throttler: RedisThrottlerStorage, plantStaleKey: (key: string) => Promise<void>): Promise<void> {
  const now = Date.now();
  const tag = 'acl';
  const rate = { limit: 5, ttlMs: 60_000, blockDurationMs: 0, algorithm: 'sliding' as const, nowMs: now };
  const risk = { country: 'FR', device: 'd1', hourOfWeek: 3 };
  const first = await checkToken(store, { tag, sub: 'alice', jti: 'j1', sid: 's1', userRate: rate, risk, anomaly: anomaly('r1', now), stepUp: true, dpopProof: { key: 'p1', ttlMs: 60_000 } });
  expect(first).toMatchObject({ jtiRevoked: false, dpopReplayed: false, userRate: { totalHits: 1 }, anomaly: { count: 1 } });
  // A second route over maxRoutes (1): the eviction reads the hash and drops the oldest route.
  const second = await checkToken(store, { tag, sub: 'alice', jti: 'j1', userRate: rate, risk, anomaly: anomaly('r2', now), stepUp: true, dpopProof: { key: 'p2', ttlMs: 60_000 } });
  expect(second).toMatchObject({ dpopReplayed: false, userRate: { totalHits: 2 } });
  // A replayed proof: refused before anything is counted.
  const replayed = await checkToken(store, { tag, sub: 'alice', jti: 'j1', userRate: rate, anomaly: anomaly('r2', now), dpopProof: { key: 'p1', ttlMs: 60_000 } });
  expect(replayed).toMatchObject({ dpopReplayed: true, userRate: { totalHits: 0 } });
  const learning = { nowMs: now, countHour: true, maxDevices: 1, maxCountries: 1, halfLifeMs: 86_400_000, ttlMs: 60_000 };
  await store.learnContext(tag, 'alice', { ...learning, country: 'FR', device: 'd1', hourOfWeek: 3 });
  await store.learnContext(tag, 'alice', { ...learning, country: 'DE', device: 'd2', hourOfWeek: 4 });
  expect((await checkToken(store, { tag, sub: 'alice', jti: 'j1', risk: { country: 'DE', device: 'd1', hourOfWeek: 4 } })).risk).toMatchObject({ learned: 2, deviceSeenAtMs: 0 });
  await store.recordChallenge(tag, 'alice', now, 60_000, 'ctx');
  // A login from another context withdraws the challenge's pass (HGET, HDEL).
  await store.learnContext(tag, 'alice', { ...learning, country: 'FR', device: 'd1', hourOfWeek: 3, login: { contextKey: 'other' } });
  // Token endpoints' proofs.
  await expect(store.recordProof(tag, 'p3', 60_000)).resolves.toBe(true);
  await expect(store.recordProof(tag, 'p3', 60_000)).resolves.toBe(false);
  await expect(store.raiseStepUpBefore(tag, 'alice', now, 60_000)).resolves.toBe(now);
  await store.hit({ space: 'ip', key: '192.0.2.1', limit: 1, ttlMs: 60_000, blockDurationMs: 1000, algorithm: 'fixed', nowMs: now });
  await expect(store.hit({ space: 'ip', key: '192.0.2.1', limit: 1, ttlMs: 60_000, blockDurationMs: 1000, algorithm: 'fixed', nowMs: now })).resolves.toMatchObject({ blocked: true });
  await expect(store.revokeToken(tag, { jti: 'j1', reason: 'stolen', revokedAtMs: now, actor: 'admin', sub: 'alice' }, 60_000)).resolves.toBe(true);
  await expect(store.getRevocation(tag, 'j1')).resolves.toMatchObject({ reason: 'stolen' });
  await expect(store.raiseUserNotBefore(tag, 'alice', now, 60_000)).resolves.toBe(now);
  await expect(store.raiseGlobalNotBefore(now - 60_000)).resolves.toBe(now - 60_000);
  // The incident toolkit: the signing kid declared at boot, a rotation (the current signer cannot be retired), a lockdown.
  await store.declareSigningKid('boot-kid');
  await store.declareIssuers({ own: 'https://api.acl.test', external: ['https://idp.acl.test/'] });
  await expect(store.readGlobalState()).resolves.toMatchObject({ declaredIssuers: { own: 'https://api.acl.test', external: ['https://idp.acl.test/'] } });
  await expect(store.retireKid('boot-kid', now)).resolves.toBe(false);
  // Rotations under the ring's lock: one refused (the ring is full), one that retires the oldest key.
  const sealedKey = (kid: string) => ({ kid, algorithms: ['ES256'], sealed: 'v1.k.iv.tag.ct', createdAtMs: now });
  await expect(store.lockKeyRotation('f1', 10_000)).resolves.toBeUndefined();
  await expect(store.lockKeyRotation('f2', 10_000)).resolves.toBe('f1');
  await expect(store.keyRotationOutcome('f1')).resolves.toBe('pending');
  await expect(store.commitKeyRotation('f1', sealedKey('first-kid'), 'boot-kid', { maxKeys: 2, retireAfterMs: 0 }, 60_000)).resolves.toMatchObject({ rotated: true });
  await expect(store.keyRotationOutcome('f1')).resolves.toMatchObject({ rotated: true, kid: 'first-kid' });
  await store.commitKeyRotation('f2', sealedKey('second-kid'), undefined, { maxKeys: 2, retireAfterMs: 0 }, 60_000);
  await expect(store.commitKeyRotation('f3', sealedKey('refused-kid'), undefined, { maxKeys: 2, retireAfterMs: 3_600_000 }, 60_000)).resolves.toMatchObject({ rotated: false });
  await expect(store.commitKeyRotation('f4', sealedKey('rotated-kid'), undefined, { maxKeys: 2, retireAfterMs: 0 }, 60_000)).resolves.toMatchObject({ rotated: true, retiredKids: ['first-kid'] });
  await expect(store.retireKid('second-kid', now)).resolves.toBe(true);
  await expect(store.listSigningKeys()).resolves.toMatchObject([{ kid: 'rotated-kid' }]);
  await expect(store.retireKid('rotated-kid', now)).resolves.toBe(false);
  await store.setLockdown({ mode: 'step-up', sinceMs: now, reason: 'drill' });
  await expect(store.retireKid('old-kid', now)).resolves.toBe(true);
  await expect(store.readGlobalState()).resolves.toMatchObject({ notBeforeMs: now - 60_000, retiredKids: { 'old-kid': now }, lockdown: { mode: 'step-up' } });
  // Created after the user's epoch (raised to `now` above), or the rotation would find it revoked.
  await store.createSession({ sid: 's2', tag, sub: 'alice', key: 'k', generation: 0, createdAtMs: now + 1, expiresAtMs: now + 60_000, claims: '{}' });
  await expect(store.getSession(tag, 's2')).resolves.toMatchObject({ generation: 0 });
  const conditions = { globalNotBeforeMs: 0, nowMs: now + 2, reuseGraceMs: 0, revokedRetainMs: 30_000 };
  await expect(store.rotateSession(tag, 's2', 'alice', 0, { ...conditions, dpopProof: { key: 'p4', ttlMs: 60_000 } })).resolves.toBe('rotated');
  await expect(store.rotateSession(tag, 's2', 'alice', 1, { ...conditions, dpopProof: { key: 'p4', ttlMs: 60_000 } })).resolves.toBe('proof_replayed');
  await expect(store.rotateSession(tag, 's2', 'alice', 0, conditions)).resolves.toBe('reuse');
  await store.createSession({ sid: 's3', tag, sub: 'alice', key: 'k', generation: 0, createdAtMs: now, expiresAtMs: now + 60_000, claims: '{}' });
  await expect(store.revokeSession(tag, 's3', 'logout', 30_000)).resolves.toBe(true);
  // The per-user cap of live sessions: the oldest beyond it leaves the set and is revoked.
  const limits = { maxPerUser: 1, revokedRetainMs: 30_000 };
  await store.createSession({ sid: 's4', tag, sub: 'alice', key: 'k', generation: 0, createdAtMs: now + 3, expiresAtMs: now + 60_000, claims: '{}' }, limits);
  await expect(store.createSession({ sid: 's5', tag, sub: 'alice', key: 'k', generation: 0, createdAtMs: now + 4, expiresAtMs: now + 60_001, claims: '{}' }, limits)).resolves.toEqual(['s4']);
  await store.appendEvent({ id: 'e1', type: 'token_revoked', at: new Date(now).toISOString(), sub: 'alice' });
  await expect(store.listEvents({ limit: 10 })).resolves.toHaveLength(1);
  await expect(store.listEvents({ limit: 10, sinceMs: now - 1 })).resolves.toHaveLength(1);
  await plantStaleKey(`${store.prefix}{u:acl}:j:stale`);
  await expect(store.cleanupExpired(5000)).resolves.toMatchObject({ removed: 1, truncated: false });
  await store.ping();
  await expect(throttler.increment('198.51.100.7', 60_000, 5, 0, 'default')).resolves.toMatchObject({ totalHits: 1 });
  await Promise.all([store.close(), throttler.close()]);
}

/** What the module never needs is refused to its user: other keys (in scripts too), admin commands, KEYS, pub/sub. */
async function expectRefusedOutsideItsRights(client: Redis): Promise<void> {
  const refused = [
    () => client.get('other-app:secret'),
    () => client.set('other-app:secret', 'x'),
    () => client.eval("return redis.call('GET', KEYS[1])", 1, 'other-app:secret'),
    () => client.eval("return redis.call('FLUSHALL')", 0),
    () => client.keys('jwtd:*'),
    () => client.flushall(),
    () => client.config('GET', 'requirepass'),
    () => client.call('ACL', 'LIST'),
    () => client.publish('jwtd:channel', 'x'),
  ];
  // NOPERM, or, from inside a script, "The user executing the script can't run this command".
  for (const command of refused) await expect(command()).rejects.toThrow(/NOPERM|can't run this command|no permissions/i);
}

describe('the Redis ACL user of docs/infrastructure.md', () => {
  it('on standalone: every command of the store and the throttler passes, ACL LOG stays empty, the rest is refused', async () => {
    const server = await RedisServer.start({ requirePass: 'admin-password' });
    try {
      await server.call('ACL', 'SETUSER', 'jwtd', ...aclRulesFromDoc(await redisVersion(server), PASSWORD));
      const url = server.urlFor({ username: 'jwtd', password: PASSWORD });
      const store = new RedisDefenseStore({ connection: url });
      const throttler = new RedisThrottlerStorage({ connection: url });
      try {
        await store.ready();
        await exerciseEveryCommand(store, throttler, async (key) => void (await server.call('SET', key, '1')));
      } finally {
        store.client.disconnect();
        throttler.client.disconnect();
      }
      await expect(server.call('ACL', 'LOG')).resolves.toEqual([]);

      const client = new Redis(url, { maxRetriesPerRequest: 0 });
      try {
        await expectRefusedOutsideItsRights(client);
      } finally {
        client.disconnect();
      }
      // ACL LOG does catch refusals (so its emptiness above means something).
      expect(((await server.call('ACL', 'LOG')) as unknown[]).length).toBeGreaterThanOrEqual(5);
    } finally {
      await server.destroy();
    }
  });

  it('on a 3-master Cluster: the same, the user created on every node', async () => {
    const cluster = await RedisClusterServer.start();
    try {
      const rules = aclRulesFromDoc(await redisVersion(cluster.nodes[0]), PASSWORD);
      for (const node of cluster.nodes) await node.call('ACL', 'SETUSER', 'jwtd', ...rules);
      const connection = { clusterNodes: cluster.clusterNodes, clusterOptions: { redisOptions: { username: 'jwtd', password: PASSWORD } } };
      const store = new RedisDefenseStore({ connection });
      const throttler = new RedisThrottlerStorage({ connection });
      try {
        await store.ready(10_000);
        await exerciseEveryCommand(store, throttler, async (key) => void (await cluster.node(await cluster.masterFor(key)).call('SET', key, '1')));
      } finally {
        store.client.disconnect();
        throttler.client.disconnect();
      }
      for (const node of cluster.nodes) await expect(node.call('ACL', 'LOG')).resolves.toEqual([]);
    } finally {
      await cluster.destroy();
    }
  }, 60_000);
});

import request from 'supertest';
import { ADAPTERS, startDemo, writeEs256KeyFiles, type DemoHandle } from './support/demo-app.js';
import { admin, login, me } from './support/demo-client.js';
import { useRedisTopologies } from './support/redis-topologies.js';

const redis = useRedisTopologies();

let suite = 0;
const prefix = () => `rev${suite++}:`;
const STORES: Array<[string, () => Record<string, string>]> = [
  ['memory store', () => ({})],
  ['redis standalone', () => ({ REDIS_URL: redis.standalone.url, REDIS_KEY_PREFIX: prefix() })],
  [
    'redis cluster',
    () => ({ REDIS_URL: redis.cluster.clusterNodes.map((node) => `redis://${node.host}:${node.port}`).join(','), REDIS_KEY_PREFIX: prefix() }),
  ],
];
const LIMITS = { THROTTLE_LIMIT: '100000', LOGIN_LIMIT: '100000' };

describe.each(ADAPTERS)('revocation over %s', (adapter) => {
  describe.each(STORES)('on the %s', (storeName, storeEnv) => {
    let demo: DemoHandle;
    let adminToken: string;
    beforeAll(async () => {
      demo = await startDemo(adapter, { ...LIMITS, ...storeEnv() });
      adminToken = (await login(demo, 'admin')).access_token;
    });
    afterAll(() => demo.close());

    it('health names the store', async () => {
      const res = await request(demo.server).get('/health');
      expect(res.body.store).toBe(storeName === 'memory store' ? 'memory' : 'redis');
    });

    it('revoking a jti → 401 token_revoked on the next request, other tokens unaffected', async () => {
      const first = await login(demo, 'alice');
      const second = await login(demo, 'alice');
      const { jti } = (await me(demo, first.access_token)).body;
      const res = await admin(demo, adminToken, 'post', `/admin/tokens/${jti}/revoke`, { reason: 'stolen laptop' });
      expect(res.status).toBe(200);
      const after = await me(demo, first.access_token);
      expect(after.status).toBe(401);
      expect(after.body.code).toBe('token_revoked');
      expect(after.headers['www-authenticate']).toContain('error="invalid_token"');
      expect((await me(demo, second.access_token)).status).toBe(200);

      const events = await admin(demo, adminToken, 'get', '/admin/security-events?type=token_revoked&limit=5');
      expect(events.status).toBe(200);
      expect(events.body.events[0]).toMatchObject({ type: 'token_revoked', jti, reason: 'stolen laptop', at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) });
    });

    it('revoke-all rejects every earlier token of the user, and a login right after works', async () => {
      const tokens = [await login(demo, 'alice'), await login(demo, 'alice')];
      const bob = await login(demo, 'admin');
      const res = await admin(demo, adminToken, 'post', '/admin/users/alice/revoke-all', { reason: 'account takeover' });
      expect(res.status).toBe(200);
      for (const token of tokens) {
        const after = await me(demo, token.access_token);
        expect(after.status).toBe(401);
        expect(after.body.code).toBe('token_revoked');
        // Their refresh sessions are gone too.
        const refreshed = await request(demo.server).post('/auth/refresh').send({ refresh_token: token.refresh_token });
        expect(refreshed.status).toBe(401);
      }
      expect((await me(demo, bob.access_token)).status).toBe(200);
      const fresh = await login(demo, 'alice');
      expect((await me(demo, fresh.access_token)).status).toBe(200);
    });

    it('refresh rotates; reuse of a rotated token revokes the whole family', async () => {
      const first = await login(demo, 'alice');
      const rotated = await request(demo.server).post('/auth/refresh').send({ refresh_token: first.refresh_token });
      expect(rotated.status).toBe(200);
      expect(rotated.body).toEqual({ access_token: expect.any(String), refresh_token: expect.any(String), token_type: 'Bearer', expires_in: 300 });
      expect(rotated.body.refresh_token).not.toBe(first.refresh_token);
      expect((await me(demo, rotated.body.access_token)).status).toBe(200);

      const reuse = await request(demo.server).post('/auth/refresh').send({ refresh_token: first.refresh_token });
      expect(reuse.status).toBe(401);
      expect(reuse.body.code).toBe('token_revoked');
      // The family is dead: its newest refresh token and every access token of it.
      const next = await request(demo.server).post('/auth/refresh').send({ refresh_token: rotated.body.refresh_token });
      expect(next.status).toBe(401);
      for (const access of [first.access_token, rotated.body.access_token]) {
        const res = await me(demo, access);
        expect(res.status).toBe(401);
        expect(res.body.code).toBe('token_revoked');
      }
      const events = await admin(demo, adminToken, 'get', '/admin/security-events?type=refresh_token_reuse&sub=alice');
      expect(events.body.events.length).toBeGreaterThanOrEqual(1);
    });

    it('a forged or foreign refresh token is refused and changes nothing', async () => {
      const session = await login(demo, 'alice');
      const [tag, sid, generation] = session.refresh_token.split('.');
      const forged = `${tag}.${sid}.${generation}.${'A'.repeat(43)}`;
      const res = await request(demo.server).post('/auth/refresh').send({ refresh_token: forged });
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('signature_invalid');
      const olderForged = await request(demo.server).post('/auth/refresh').send({ refresh_token: `${tag}.${sid}.0.${'B'.repeat(43)}` });
      expect(olderForged.status).toBe(401);
      const accessAsRefresh = await request(demo.server).post('/auth/refresh').send({ refresh_token: session.access_token });
      expect(accessAsRefresh.status).toBe(401);
      expect(accessAsRefresh.body.code).toBe('token_malformed');
      // The genuine session still works.
      expect((await request(demo.server).post('/auth/refresh').send({ refresh_token: session.refresh_token })).status).toBe(200);
    });

    it("SESSION_MAX_PER_USER (M8): a login beyond the cap revokes the user's oldest session, its refresh and access tokens", async () => {
      const capped = await startDemo(adapter, { ...LIMITS, ...storeEnv(), SESSION_MAX_PER_USER: '2' });
      try {
        const [oldest, second, third] = [await login(capped, 'alice'), await login(capped, 'alice'), await login(capped, 'alice')];
        const refused = await me(capped, oldest.access_token);
        expect(refused.status).toBe(401);
        expect(refused.body.code).toBe('token_revoked');
        const refreshed = await request(capped.server).post('/auth/refresh').send({ refresh_token: oldest.refresh_token });
        expect(refreshed.status).toBe(401);
        expect(refreshed.body.code).toBe('token_revoked');
        for (const live of [second, third]) expect((await me(capped, live.access_token)).status).toBe(200);
        expect((await request(capped.server).post('/auth/refresh').send({ refresh_token: second.refresh_token })).status).toBe(200);
        // Another user's sessions are untouched by alice's logins.
        const adminSession = await login(capped, 'admin');
        for (let i = 0; i < 3; i++) await login(capped, 'alice');
        expect((await me(capped, adminSession.access_token)).status).toBe(200);
        const events = await admin(capped, adminSession.access_token, 'get', '/admin/security-events?type=session_revoked&sub=alice');
        expect(events.body.events[0]).toMatchObject({ type: 'session_revoked', sub: 'alice', reason: 'session_limit' });
      } finally {
        await capped.close();
      }
    });

    it('logout revokes the access token and its refresh family', async () => {
      const session = await login(demo, 'alice');
      const out = await request(demo.server).post('/auth/logout').set('Authorization', `Bearer ${session.access_token}`);
      expect(out.status).toBe(204);
      expect((await me(demo, session.access_token)).body.code).toBe('token_revoked');
      expect((await request(demo.server).post('/auth/refresh').send({ refresh_token: session.refresh_token })).status).toBe(401);
    });

    it('incident endpoints refuse malformed ids with 400, never 5xx', async () => {
      for (const [path, code] of [
        // Any string can be another issuer's jti: without its sub it is refused as such (security review finding 7).
        ['/admin/tokens/not-a-jti/revoke', 'subject_required'],
        [`/admin/tokens/${'x'.repeat(300)}/revoke`, 'invalid_request'],
        [`/admin/users/${'u'.repeat(300)}/revoke-all`, 'invalid_request'],
      ]) {
        const res = await admin(demo, adminToken, 'post', path, { reason: 'x' });
        expect(res.status).toBe(400);
        expect(res.body.code).toBe(code);
        expect(res.headers['x-content-type-options']).toBe('nosniff');
        expect(res.text).not.toContain('uuuuu');
        expect(res.text).not.toContain('xxxxx');
      }
      const noReason = await admin(demo, adminToken, 'post', '/admin/users/alice/revoke-all', {});
      expect(noReason.status).toBe(400);
    });

    it('security events: admin only, bounded, validated', async () => {
      const alice = await login(demo, 'alice');
      expect((await admin(demo, alice.access_token, 'get', '/admin/security-events')).status).toBe(403);
      const limited = await admin(demo, adminToken, 'get', '/admin/security-events?limit=1');
      expect(limited.body.events).toHaveLength(1);
      for (const query of ['limit=0', 'limit=1001', 'type=nope']) {
        const bad = await admin(demo, adminToken, 'get', `/admin/security-events?${query}`);
        expect(bad.status).toBe(400);
        expect(bad.body.code).toBe('invalid_request');
      }
    });
  });
});

describe('two instances sharing one Redis', () => {
  let a: DemoHandle;
  let b: DemoHandle;
  beforeAll(async () => {
    const keys = writeEs256KeyFiles();
    const shared = { ...LIMITS, REDIS_URL: redis.standalone.url, REDIS_KEY_PREFIX: prefix() };
    a = await startDemo('express', shared, keys);
    b = await startDemo('fastify', shared, keys);
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  it('a revocation through instance A is enforced by instance B on the next request', async () => {
    const adminToken = (await login(a, 'admin')).access_token;
    const one = await login(a, 'alice');
    const two = await login(b, 'alice');
    expect((await me(b, one.access_token)).status).toBe(200);

    const { jti } = (await me(a, one.access_token)).body;
    expect((await admin(a, adminToken, 'post', `/admin/tokens/${jti}/revoke`, { reason: 'x' })).status).toBe(200);
    expect((await me(b, one.access_token)).body.code).toBe('token_revoked');
    expect((await me(b, two.access_token)).status).toBe(200);

    expect((await admin(a, adminToken, 'post', '/admin/users/alice/revoke-all', { reason: 'x' })).status).toBe(200);
    expect((await me(b, two.access_token)).body.code).toBe('token_revoked');

    // A refresh family rotated on A cannot be replayed on B.
    const session = await login(b, 'alice');
    expect((await request(a.server).post('/auth/refresh').send({ refresh_token: session.refresh_token })).status).toBe(200);
    expect((await request(b.server).post('/auth/refresh').send({ refresh_token: session.refresh_token })).body.code).toBe('token_revoked');
  });
});

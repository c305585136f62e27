import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { ADAPTERS, startDemo, writeEs256KeyFiles, type DemoHandle } from './support/demo-app.js';
import { admin, login, me } from './support/demo-client.js';
import { useRedisTopologies } from './support/redis-topologies.js';

const redis = useRedisTopologies();
const LIMITS = { THROTTLE_LIMIT: '100000', LOGIN_LIMIT: '100000' };
let suite = 0;
const prefix = () => `inc${suite++}:`;

const kidOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString()).kid;
const jwksKids = async (demo: DemoHandle): Promise<string[]> =>
  (await request(demo.server).get('/.well-known/jwks.json')).body.keys.map((key: { kid: string }) => key.kid);

/** Polls until `check` passes: other instances apply global measures within `globalStateRefreshMs` (1 s). */
async function eventually(check: () => Promise<void>, timeoutMs = 4000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

describe.each(ADAPTERS)('incident API over %s (memory store)', (adapter) => {
  let demo: DemoHandle;
  let adminToken: string;
  beforeAll(async () => {
    demo = await startDemo(adapter, LIMITS);
  });
  afterAll(() => demo.close());
  beforeEach(async () => {
    adminToken = (await login(demo, 'admin')).access_token;
  });

  it('is admin only and needs a reason', async () => {
    const alice = await login(demo, 'alice');
    for (const [path, body] of [
      ['/admin/incident/revoke-before', { reason: 'x' }],
      ['/admin/incident/rotate-key', { reason: 'x' }],
      ['/admin/incident/retire-key/abc', { reason: 'x' }],
      ['/admin/incident/lockdown', { mode: 'off', reason: 'x' }],
    ] as const) {
      const res = await admin(demo, alice.access_token, 'post', path, body);
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('insufficient_scope');
      expect((await request(demo.server).post(path).send(body)).status).toBe(401);
      const { reason: _reason, ...noReason } = body as { reason: string };
      expect((await admin(demo, adminToken, 'post', path, noReason)).body.code).toBe('invalid_request');
    }
    expect((await admin(demo, alice.access_token, 'get', '/admin/incident/status')).status).toBe(403);
    expect((await admin(demo, adminToken, 'post', '/admin/incident/lockdown', { mode: 'panic', reason: 'x' })).status).toBe(400);
    expect((await admin(demo, adminToken, 'post', '/admin/incident/retire-key/bad kid!', { reason: 'x' })).status).toBe(400);
  });

  it('revoke-before: every token issued at or before `at` is refused, later logins work; the future is 400', async () => {
    const before = await login(demo, 'alice');
    const future = new Date(Date.now() + 60_000).toISOString();
    const refused = await admin(demo, adminToken, 'post', '/admin/incident/revoke-before', { at: future, reason: 'x' });
    expect(refused.status).toBe(400);
    expect(refused.body.code).toBe('invalid_request');
    expect((await me(demo, before.access_token)).status).toBe(200);

    const res = await admin(demo, adminToken, 'post', '/admin/incident/revoke-before', { reason: 'stolen signing host' });
    expect(res.status).toBe(200);
    expect(Date.parse(res.body.revoked_before)).toBeLessThanOrEqual(Date.now());
    for (const token of [before.access_token, adminToken]) expect((await me(demo, token)).body.code).toBe('token_revoked');
    expect((await request(demo.server).post('/auth/refresh').send({ refresh_token: before.refresh_token })).status).toBe(401);
    const after = await login(demo, 'admin');
    expect((await me(demo, after.access_token)).status).toBe(200);
    const events = await admin(demo, after.access_token, 'get', '/admin/security-events?type=global_revoked&limit=1');
    expect(events.body.events[0]).toMatchObject({ type: 'global_revoked', reason: 'stolen signing host', details: { actor: 'admin' } });
  });

  it('rotate-key: a new key signs, the old stays in the JWKS and verifies; retiring it refuses its tokens; the signing key is 409', async () => {
    const old = await login(demo, 'alice');
    const oldKid = kidOf(old.access_token);
    const rotated = await admin(demo, adminToken, 'post', '/admin/incident/rotate-key', { reason: 'key on a stolen laptop' });
    expect(rotated.status).toBe(200);
    expect(rotated.body).toEqual({ kid: expect.stringMatching(/^[A-Za-z0-9._-]{1,64}$/), previous_kid: oldKid, alg: 'ES256' });
    const newKid: string = rotated.body.kid;
    expect(await jwksKids(demo)).toEqual(expect.arrayContaining([oldKid, newKid]));
    const jwks = (await request(demo.server).get('/.well-known/jwks.json')).body.keys;
    for (const key of jwks) expect(Object.keys(key).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);

    const fresh = await login(demo, 'alice');
    expect(kidOf(fresh.access_token)).toBe(newKid);
    expect((await me(demo, fresh.access_token)).status).toBe(200);
    expect((await me(demo, old.access_token)).status).toBe(200);

    const active = await admin(demo, adminToken, 'post', `/admin/incident/retire-key/${newKid}`, { reason: 'x' });
    expect(active.status).toBe(409);
    expect(active.body.code).toBe('signing_key_active');
    expect((await me(demo, fresh.access_token)).status).toBe(200);

    const retired = await admin(demo, adminToken, 'post', `/admin/incident/retire-key/${oldKid}`, { reason: 'eradicate' });
    expect(retired.status).toBe(200);
    expect((await me(demo, old.access_token)).body.code).toBe('token_revoked');
    expect((await me(demo, fresh.access_token)).status).toBe(200);
    expect(await jwksKids(demo)).toEqual([newKid]);

    const admin2 = (await login(demo, 'admin')).access_token;
    const status = await admin(demo, admin2, 'get', '/admin/incident/status');
    expect(status.body).toMatchObject({ signing_kid: newKid, store: 'memory', lockdown: { mode: 'off' } });
    expect(status.body.keys).toEqual(
      expect.arrayContaining([
        { kid: oldKid, alg: 'ES256', signing: false, published: false, retired_at: expect.any(String) },
        { kid: newKid, alg: 'ES256', signing: true, published: true },
      ]),
    );
    const types = (await admin(demo, admin2, 'get', '/admin/security-events?limit=20')).body.events.map((e: { type: string }) => e.type);
    expect(types).toEqual(expect.arrayContaining(['key_rotated', 'key_retired']));
    const rotatedEvent = (await admin(demo, admin2, 'get', '/admin/security-events?type=key_rotated&limit=1')).body.events[0];
    expect(rotatedEvent).toMatchObject({ reason: 'key on a stolen laptop', details: { kid: newKid, previous_kid: oldKid, actor: 'admin' } });
  });

  it('rotate-key: each call after the last answered makes a new key; beyond 10 rotated keys 409 key_ring_full, until one is retired', async () => {
    const fresh = await startDemo(adapter, LIMITS);
    try {
      const token = (await login(fresh, 'admin')).access_token;
      const rotate = (reason: string) => admin(fresh, token, 'post', '/admin/incident/rotate-key', { reason });
      const kids = [kidOf(token)];
      for (let i = 1; i <= 10; i++) {
        const res = await rotate(`drill ${i}`);
        expect(res.status).toBe(200);
        expect(res.body.previous_kid).toBe(kids[kids.length - 1]);
        kids.push(res.body.kid);
      }
      expect(new Set(kids).size).toBe(11);
      // The oldest rotated key stopped signing a moment ago: tokens it signed may still be valid, so it stays.
      const full = await rotate('one too many');
      expect(full.status).toBe(409);
      expect(full.body).toEqual({ statusCode: 409, error: 'Conflict', message: expect.any(String), code: 'key_ring_full' });
      expect(full.headers['x-content-type-options']).toBe('nosniff');
      expect(full.headers['cache-control']).toBe('no-store');
      expect((await admin(fresh, token, 'get', '/admin/incident/status')).body.signing_kid).toBe(kids[10]);
      expect((await jwksKids(fresh)).sort()).toEqual([...kids].sort());

      expect((await admin(fresh, token, 'post', `/admin/incident/retire-key/${kids[1]}`, { reason: 'make room' })).status).toBe(200);
      const again = await rotate('after making room');
      expect(again.status).toBe(200);
      expect(kids).not.toContain(again.body.kid);
      expect(again.body.previous_kid).toBe(kids[10]);
    } finally {
      await fresh.close();
    }
  });

  it('lockdown step-up: tokens authenticated before need a new login; deny-non-admin: 403 lockdown except admins; off', async () => {
    const alice = await login(demo, 'alice');
    const set = await admin(demo, adminToken, 'post', '/admin/incident/lockdown', { mode: 'step-up', reason: 'suspected token theft' });
    expect(set.status).toBe(200);
    expect(set.body).toEqual({ mode: 'step-up', since: expect.any(String) });
    const challenged = await me(demo, alice.access_token);
    expect(challenged.status).toBe(401);
    expect(challenged.body.code).toBe('insufficient_user_authentication');
    expect(challenged.headers['www-authenticate']).toBe('Bearer realm="api", error="insufficient_user_authentication", max_age="0"');
    // A refresh keeps the session's login time: still not a new login.
    const refreshed = await request(demo.server).post('/auth/refresh').send({ refresh_token: alice.refresh_token });
    expect((await me(demo, refreshed.body.access_token)).body.code).toBe('insufficient_user_authentication');
    const relogged = await login(demo, 'alice');
    expect((await me(demo, relogged.access_token)).status).toBe(200);

    const adminAgain = (await login(demo, 'admin')).access_token;
    expect((await admin(demo, adminAgain, 'post', '/admin/incident/lockdown', { mode: 'deny-non-admin', reason: 'containment' })).status).toBe(200);
    const denied = await me(demo, relogged.access_token);
    expect(denied.status).toBe(403);
    expect(denied.body.code).toBe('lockdown');
    expect((await me(demo, (await login(demo, 'alice')).access_token)).body.code).toBe('lockdown');
    expect((await me(demo, adminAgain)).status).toBe(200);
    expect((await admin(demo, adminAgain, 'get', '/admin/incident/status')).body.lockdown).toMatchObject({ mode: 'deny-non-admin', reason: 'containment', actor: 'admin' });

    expect((await admin(demo, adminAgain, 'post', '/admin/incident/lockdown', { mode: 'off', reason: 'recovered' })).status).toBe(200);
    expect((await me(demo, relogged.access_token)).status).toBe(200);
    const events = (await admin(demo, adminAgain, 'get', '/admin/security-events?type=lockdown_changed&limit=3')).body.events;
    expect(events.map((e: { details: { mode: string } }) => e.details.mode)).toEqual(['off', 'deny-non-admin', 'step-up']);
    expect(events[0]).toMatchObject({ reason: 'recovered', details: { previous: 'deny-non-admin', actor: 'admin' } });
  });

  it('exports events as NDJSON, oldest first, filtered by time and type', async () => {
    const since = new Date().toISOString();
    const alice = await login(demo, 'alice');
    const { jti } = (await me(demo, alice.access_token)).body;
    await admin(demo, adminToken, 'post', `/admin/tokens/${jti}/revoke`, { reason: 'export-1' });
    await admin(demo, adminToken, 'post', '/admin/users/alice/revoke-all', { reason: 'export-2' });
    const res = await admin(demo, adminToken, 'get', `/admin/security-events/export?since=${encodeURIComponent(since)}`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/x-ndjson/);
    const lines = res.text.trimEnd().split('\n').map((line) => JSON.parse(line));
    expect(lines.map((e) => e.reason)).toEqual(['export-1', 'export-2']);
    expect(lines.every((e) => Date.parse(e.at) >= Date.parse(since))).toBe(true);
    const typed = await admin(demo, adminToken, 'get', `/admin/security-events/export?type=user_revoked&since=${encodeURIComponent(since)}`);
    expect(typed.text.trimEnd().split('\n').map((line) => JSON.parse(line).type)).toEqual(['user_revoked']);
  });
});

const TOPOLOGIES: Array<[string, () => string]> = [
  ['redis standalone', () => redis.standalone.url],
  ['redis cluster', () => redis.cluster.clusterNodes.map((node) => `redis://${node.host}:${node.port}`).join(',')],
];

describe.each(TOPOLOGIES)('two instances (express and fastify) on %s', (_name, url) => {
  let a: DemoHandle;
  let b: DemoHandle;
  beforeAll(async () => {
    const keys = writeEs256KeyFiles();
    const shared = { ...LIMITS, REDIS_URL: url(), REDIS_KEY_PREFIX: prefix(), JWT_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64') };
    a = await startDemo('express', shared, keys);
    b = await startDemo('fastify', shared, keys);
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  it('a rotation on A signs on B and verifies on B; the old key keeps verifying until retired, everywhere', async () => {
    const adminA = (await login(a, 'admin')).access_token;
    const old = await login(b, 'alice');
    const oldKid = kidOf(old.access_token);
    const { kid: newKid } = (await admin(a, adminA, 'post', '/admin/incident/rotate-key', { reason: 'rotation drill' })).body;
    expect(kidOf((await login(a, 'alice')).access_token)).toBe(newKid);
    await eventually(async () => expect(kidOf((await login(b, 'alice')).access_token)).toBe(newKid));
    const fromB = await login(b, 'alice');
    expect((await me(a, fromB.access_token)).status).toBe(200);
    expect((await me(b, fromB.access_token)).status).toBe(200);
    expect(await jwksKids(b)).toEqual(expect.arrayContaining([oldKid, newKid]));
    expect((await me(a, old.access_token)).status).toBe(200);

    // The signing key is refused on the other instance too: the store checks it atomically.
    const adminB = (await login(b, 'admin')).access_token;
    expect((await admin(b, adminB, 'post', `/admin/incident/retire-key/${newKid}`, { reason: 'x' })).status).toBe(409);
    expect((await admin(b, adminB, 'post', `/admin/incident/retire-key/${oldKid}`, { reason: 'eradicate' })).status).toBe(200);
    expect((await me(b, old.access_token)).body.code).toBe('token_revoked');
    await eventually(async () => expect((await me(a, old.access_token)).body.code).toBe('token_revoked'));
    await eventually(async () => expect(await jwksKids(a)).toEqual([newKid]));
    expect((await me(a, fromB.access_token)).status).toBe(200);
  });

  it('rotate-key on A, then on B once A answered: two new keys, and B signs with the second', async () => {
    const first = (await admin(a, (await login(a, 'admin')).access_token, 'post', '/admin/incident/rotate-key', { reason: 'leak' })).body;
    const second = (await admin(b, (await login(b, 'admin')).access_token, 'post', '/admin/incident/rotate-key', { reason: 'the rotation leaked too' })).body;
    expect(second.kid).not.toBe(first.kid);
    expect(second.previous_kid).toBe(first.kid);
    expect(kidOf((await login(b, 'alice')).access_token)).toBe(second.kid);
    await eventually(async () => expect(kidOf((await login(a, 'alice')).access_token)).toBe(second.kid));
  });

  it('a lockdown set on A is enforced on B within the refresh interval, at once on A', async () => {
    const adminA = (await login(a, 'admin')).access_token;
    const alice = await login(b, 'alice');
    expect((await admin(a, adminA, 'post', '/admin/incident/lockdown', { mode: 'deny-non-admin', reason: 'drill' })).status).toBe(200);
    expect((await me(a, alice.access_token)).body.code).toBe('lockdown');
    await eventually(async () => expect((await me(b, alice.access_token)).body.code).toBe('lockdown'));
    expect((await admin(a, adminA, 'post', '/admin/incident/lockdown', { mode: 'off', reason: 'drill over' })).status).toBe(200);
    await eventually(async () => expect((await me(b, alice.access_token)).status).toBe(200));
  });

  it('an instance started after a rotation signs with the rotated key from its first request', async () => {
    const keys = writeEs256KeyFiles();
    const env = { ...LIMITS, REDIS_URL: url(), REDIS_KEY_PREFIX: prefix(), JWT_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64') };
    const first = await startDemo('express', env, keys);
    const adminToken = (await login(first, 'admin')).access_token;
    const { kid } = (await admin(first, adminToken, 'post', '/admin/incident/rotate-key', { reason: 'x' })).body;
    const late = await startDemo('fastify', env, keys);
    try {
      const token = (await login(late, 'alice')).access_token;
      expect(kidOf(token)).toBe(kid);
      expect((await me(first, token)).status).toBe(200);
    } finally {
      await Promise.all([first.close(), late.close()]);
    }
  });

  it('an instance with another key-encryption key never trusts the rotated key', async () => {
    const keys = writeEs256KeyFiles();
    const env = { ...LIMITS, REDIS_URL: url(), REDIS_KEY_PREFIX: prefix() };
    const first = await startDemo('express', { ...env, JWT_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64') }, keys);
    const other = await startDemo('express', { ...env, JWT_KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64') }, keys);
    try {
      const adminToken = (await login(first, 'admin')).access_token;
      await admin(first, adminToken, 'post', '/admin/incident/rotate-key', { reason: 'x' });
      const token = (await login(first, 'alice')).access_token;
      await new Promise((resolve) => setTimeout(resolve, 1500));
      const res = await me(other, token);
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('signature_invalid');
    } finally {
      await Promise.all([first.close(), other.close()]);
    }
  });
});

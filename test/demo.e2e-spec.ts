import request from 'supertest';
import { ADAPTERS, startDemo, type DemoHandle } from './support/demo-app.js';

const SECURITY_HEADERS = {
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  'x-xss-protection': '0',
};

function expectSecurityHeaders(res: request.Response): void {
  expect(res.headers).toMatchObject(SECURITY_HEADERS);
  expect(res.headers['x-powered-by']).toBeUndefined();
}

async function login(demo: DemoHandle, username: string, password = `${username}-password`): Promise<string> {
  const res = await request(demo.server).post('/auth/login').send({ username, password });
  expect(res.status).toBe(200);
  return res.body.access_token;
}

describe.each(ADAPTERS)('demo app over %s', (adapter) => {
  describe('contract', () => {
    let demo: DemoHandle;
    beforeAll(async () => {
      demo = await startDemo(adapter, { THROTTLE_LIMIT: '100000', LOGIN_LIMIT: '100000' });
    });
    afterAll(() => demo.close());

    it('login answers an OAuth-style token response', async () => {
      const res = await request(demo.server).post('/auth/login').send({ username: 'admin', password: 'admin-password' });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        access_token: expect.stringMatching(/^[\w-]+\.[\w-]+\.[\w-]+$/),
        refresh_token: expect.any(String),
        token_type: 'Bearer',
        expires_in: 300,
      });
    });

    it('bad credentials: one 401 for an unknown user and a wrong password', async () => {
      const wrong = await request(demo.server).post('/auth/login').send({ username: 'alice', password: 'nope' });
      const unknown = await request(demo.server).post('/auth/login').send({ username: 'mallory', password: 'nope' });
      expect(wrong.status).toBe(401);
      expect(wrong.body.code).toBe('invalid_credentials');
      expect(unknown.status).toBe(401);
      expect(unknown.body).toEqual(wrong.body);
    });

    it.each([
      ['a missing password', { username: 'alice' }],
      ['a non-string username', { username: ['alice'], password: 'x' }],
      ['an unknown member', { username: 'alice', password: 'alice-password', admin: true }],
    ])('login with %s → 400 invalid_request', async (_name, body) => {
      const res = await request(demo.server).post('/auth/login').send(body);
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('invalid_request');
    });

    it('login with malformed JSON → 400 invalid_request with the security headers and no echo', async () => {
      const res = await request(demo.server)
        .post('/auth/login')
        .set('content-type', 'application/json')
        .send('{"username": "alice", "password": SECRET-PAYLOAD');
      expect(res.status).toBe(400);
      expect(res.body.code).toBe('invalid_request');
      expect(res.text).not.toContain('SECRET-PAYLOAD');
      expectSecurityHeaders(res);
    });

    it.each(['/me/%zz', '/%E0%A4%A', `/.well-known/${'j'.repeat(500)}`])('a malformed or odd URL (%s) → 4xx with the standard body and headers, no echo', async (path) => {
      const res = await request(demo.server).get(path);
      expect([400, 404]).toContain(res.status);
      expect(res.body).toEqual({ statusCode: res.status, error: expect.any(String), message: expect.any(String), code: expect.any(String) });
      expect(res.text).not.toContain('%zz');
      expect(res.text).not.toContain('jjjjj');
      expectSecurityHeaders(res);
    });

    it('health is public', async () => {
      const res = await request(demo.server).get('/health');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ status: 'ok', store: 'memory' });
    });

    it('JWKS publishes the public key with kid, alg and use, and no private member', async () => {
      const res = await request(demo.server).get('/.well-known/jwks.json');
      expect(res.status).toBe(200);
      expect(res.body.keys).toHaveLength(1);
      const [jwk] = res.body.keys;
      expect(jwk).toEqual({ kty: 'EC', crv: 'P-256', x: expect.any(String), y: expect.any(String), kid: expect.any(String), alg: 'ES256', use: 'sig' });
      const token = await login(demo, 'alice');
      expect(JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString()).kid).toBe(jwk.kid);
      expect(res.headers['cache-control']).toBe('public, max-age=300');
    });

    it('admin routes: 403 insufficient_scope for a user, through for an admin', async () => {
      const alice = await login(demo, 'alice');
      const denied = await request(demo.server).post('/admin/tokens/abc/revoke').set('Authorization', `Bearer ${alice}`).send({ reason: 'x' });
      expect(denied.status).toBe(403);
      expect(denied.body.code).toBe('insufficient_scope');
      expect(denied.headers['www-authenticate']).toBe('Bearer realm="api", error="insufficient_scope"');
      expectSecurityHeaders(denied);

      const admin = await login(demo, 'admin');
      const { jti } = (await request(demo.server).get('/me').set('Authorization', `Bearer ${alice}`)).body;
      const allowed = await request(demo.server).post(`/admin/tokens/${jti}/revoke`).set('Authorization', `Bearer ${admin}`).send({ reason: 'x' });
      expect(allowed.status).toBe(200);
    });

    it('refresh, logout and security events answer as the contract says', async () => {
      const token = await login(demo, 'alice');
      const refresh = await request(demo.server).post('/auth/refresh').send({ refresh_token: 'abc' });
      expect(refresh.status).toBe(401);
      expect(refresh.body.code).toBe('token_malformed');
      const malformed = await request(demo.server).post('/auth/refresh').send({});
      expect(malformed.status).toBe(400);
      const events = await request(demo.server).get('/admin/security-events').set('Authorization', `Bearer ${token}`);
      expect(events.status).toBe(403);
      const logout = await request(demo.server).post('/auth/logout').set('Authorization', `Bearer ${token}`);
      expect(logout.status).toBe(204);
    });

    it.each([
      ['200', async () => request(demo.server).get('/me').set('Authorization', `Bearer ${await login(demo, 'alice')}`), 200],
      ['401', async () => request(demo.server).get('/me'), 401],
      ['401 (bad token)', async () => request(demo.server).get('/me').set('Authorization', 'Bearer a.b.c'), 401],
      ['404', async () => request(demo.server).get('/no/such/route'), 404],
      ['400', async () => request(demo.server).get('/me?access_token=x'), 400],
    ])('security headers on a %s response', async (_name, send, status) => {
      const res = await send();
      expect(res.status).toBe(status);
      expectSecurityHeaders(res);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.body.code ?? 'ok').toEqual(expect.any(String));
    });
  });

  describe('throttling', () => {
    let demo: DemoHandle;
    beforeAll(async () => {
      demo = await startDemo(adapter, { THROTTLE_LIMIT: '8', LOGIN_LIMIT: '3', TRUST_PROXY: '127.0.0.1/32,::1/128,::ffff:127.0.0.1/128' });
    });
    afterAll(() => demo.close());

    it('limits logins per username across IPs, failed and successful alike, with Retry-After', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        const res = await request(demo.server)
          .post('/auth/login')
          .set('X-Forwarded-For', `203.0.113.${i + 1}`)
          .send({ username: 'alice', password: i === 1 ? 'alice-password' : 'wrong' });
        statuses.push(res.status);
        if (res.status === 429) {
          expect(res.body.code).toBe('rate_limited');
          expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
          expectSecurityHeaders(res);
        }
      }
      expect(statuses).toEqual([401, 200, 401, 429]);
    });

    it('limits logins per IP across usernames', async () => {
      const statuses: number[] = [];
      for (const username of ['u1', 'u2', 'u3', 'u4']) {
        const res = await request(demo.server).post('/auth/login').set('X-Forwarded-For', '198.51.100.7').send({ username, password: 'x' });
        statuses.push(res.status);
      }
      expect(statuses).toEqual([401, 401, 401, 429]);
    });

    it('throttles a flood of forged tokens before verifying them', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 10; i++) {
        const res = await request(demo.server).get('/me').set('X-Forwarded-For', '192.0.2.99').set('Authorization', 'Bearer a.b.c');
        statuses.push(res.status);
      }
      expect(statuses.slice(0, 8)).toEqual(Array(8).fill(401));
      expect(statuses.slice(8)).toEqual([429, 429]);
    });
  });

  describe('without TRUST_PROXY', () => {
    let demo: DemoHandle;
    beforeAll(async () => {
      demo = await startDemo(adapter, { THROTTLE_LIMIT: '5' });
    });
    afterAll(() => demo.close());

    it('ignores X-Forwarded-For: rotating it does not escape the limit', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 7; i++) {
        const res = await request(demo.server).get('/health').set('X-Forwarded-For', `203.0.113.${i}`);
        statuses.push(res.status);
      }
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429]);
    });
  });
});

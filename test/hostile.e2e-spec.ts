import fc from 'fast-check';
import request from 'supertest';
import { DEFENSE_ERROR_CODES } from '@jwt-defense/core';
import { ADAPTERS, startDemo, type DemoHandle } from './support/demo-app.js';
import { login } from './support/demo-client.js';

const CODES = new Set<string>(DEFENSE_ERROR_CODES);
const ROUTES = ['/auth/login', '/auth/refresh', '/auth/logout', '/me', '/health', '/.well-known/jwks.json', '/admin/users/alice/revoke-all', '/admin/tokens/x/revoke', '/admin/security-events', '/nope'];

describe.each(ADAPTERS)('hostile requests against the demo over %s', (adapter) => {
  let demo: DemoHandle;
  let token: string;
  beforeAll(async () => {
    demo = await startDemo(adapter, { THROTTLE_LIMIT: '1000000', LOGIN_LIMIT: '1000000' });
    token = (await login(demo, 'admin')).access_token;
  });
  afterAll(() => demo.close());

  it('never answer 5xx, and every error has a code of the closed set and the security headers', async () => {
    const segment = fc.oneof(fc.constantFrom('%zz', '%00', '%2e%2e', '..', '%E0%A4%A', 'a'.repeat(120), '?access_token=x', '?limit=-1', '?type[]=x'), fc.string({ maxLength: 20 }).map(encodeURIComponent));
    const body = fc.oneof(
      fc.jsonValue().map((value) => JSON.stringify(value) ?? 'null'),
      fc.string({ maxLength: 200 }),
      fc.constantFrom('{"username":"admin","password":"admin-password"}', '{"refresh_token":"a.b.c.d"}', '{"reason":"x"}', '{', '[]', 'null'),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('get', 'post', 'put', 'delete', 'patch'),
        fc.constantFrom(...ROUTES),
        fc.option(segment, { nil: undefined }),
        body,
        fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1'),
        fc.constantFrom(`Bearer ${token}`, 'Bearer x', 'Basic Zm9vOmJhcg==', '', 'Bearer  ', `bearer ${token}`),
        async (method, route, suffix, payload, contentType, authorization) => {
          const path = suffix === undefined ? route : `${route}/${suffix}`;
          let req = request(demo.server)[method](path).set('content-type', contentType);
          if (authorization) req = req.set('Authorization', authorization);
          const res = await req.send(payload);
          expect(res.status).toBeLessThan(500);
          if (res.status >= 400) {
            expect(CODES.has(res.body.code)).toBe(true);
            expect(res.headers['x-content-type-options']).toBe('nosniff');
            expect(res.headers['x-powered-by']).toBeUndefined();
          }
        },
      ),
      { numRuns: 300 },
    );
  }, 120_000);

  it('an oversized body is a 413 payload_too_large with the standard body and headers', async () => {
    const res = await request(demo.server)
      .post('/auth/login')
      .set('content-type', 'application/json')
      .send(JSON.stringify({ username: 'a', password: 'p'.repeat(2_000_000) }));
    expect(res.status).toBe(413);
    expect(res.body.code).toBe('payload_too_large');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
  });
});

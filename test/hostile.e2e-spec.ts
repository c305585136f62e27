import fc from 'fast-check';
import request from 'supertest';
import { DEFENSE_ERROR_CODES } from '../libs/jwt-defense/src/errors/defense-error-code.js';
import { ADAPTERS, startDemo, type DemoHandle } from './support/demo-app.js';
import { login } from './support/demo-client.js';
import { signJws } from './support/jws.js';
import { RedisServer } from './support/redis-server.js';

const CODES = new Set<string>(DEFENSE_ERROR_CODES);
const ROUTES = ['/auth/login', '/auth/refresh', '/auth/logout', '/me', '/health', '/.well-known/jwks.json', '/admin/users/alice/revoke-all', '/admin/tokens/x/revoke', '/admin/security-events', '/nope'];

/** Bytes that are not valid UTF-8: overlong forms, lone continuation or lead bytes, surrogates, truncations. */
const INVALID_UTF8 = fc.constantFrom([0xc0, 0xaf], [0xff], [0xfe], [0x80], [0xed, 0xa0, 0x80], [0xed, 0xbf, 0xbf], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]);

/** Requests an attacker can send: any method, route, URL suffix, body, content type and Authorization value. */
function hostileRequests(demo: DemoHandle, validToken: () => string) {
  const segment = fc.oneof(fc.constantFrom('%zz', '%00', '%2e%2e', '..', '%E0%A4%A', 'a'.repeat(120), '?access_token=x', '?limit=-1', '?type[]=x'), fc.string({ maxLength: 20 }).map(encodeURIComponent));
  const deep = fc.tuple(fc.integer({ min: 33, max: 5000 }), fc.constantFrom('[', '{"a":')).map(([levels, open]) => `${open.repeat(levels)}1${(open === '[' ? ']' : '}').repeat(levels)}`);
  const body = fc.oneof(
    fc.jsonValue().map((value) => JSON.stringify(value) ?? 'null'),
    fc.string({ maxLength: 200 }),
    deep,
    fc.constantFrom('{"username":"admin","password":"admin-password"}', '{"refresh_token":"a.b.c.d"}', '{"reason":"x"}', '{', '[]', 'null'),
  );
  const now = Math.floor(Date.now() / 1000);
  const kid = () => JSON.parse(Buffer.from(validToken().split('.')[0], 'base64url').toString()).kid as string;
  // Validly signed with the demo's key, with invalid UTF-8 inside the header or the payload.
  const badUtf8 = fc.tuple(INVALID_UTF8, fc.boolean()).map(([bytes, inHeader]) => {
    const header = JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid: kid(), x: 'y' });
    const payload = JSON.stringify({ iss: 'jwt-defense-demo', aud: 'jwt-defense-demo', sub: 'admin', jti: 'j', iat: now, exp: now + 300, roles: ['admin'], x: 'y' });
    const poison = (json: string) => Buffer.concat([Buffer.from(json.slice(0, -2)), Buffer.from(bytes), Buffer.from(json.slice(-2))]);
    return `Bearer ${signJws(inHeader ? poison(header) : header, inHeader ? payload : poison(payload), demo.privateKey, 'ES256')}`;
  });
  return fc.record({
    method: fc.constantFrom('get', 'post', 'put', 'delete', 'patch'),
    route: fc.constantFrom(...ROUTES),
    suffix: fc.option(segment, { nil: undefined }),
    payload: body,
    contentType: fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1'),
    authorization: fc.oneof(fc.constantFrom('valid', 'Bearer x', 'Basic Zm9vOmJhcg==', '', 'Bearer  ', 'bearer-valid'), badUtf8),
  });
}

async function send(demo: DemoHandle, validToken: string, r: { method: string; route: string; suffix?: string; payload: string; contentType: string; authorization: string }) {
  const path = r.suffix === undefined ? r.route : `${r.route}/${r.suffix}`;
  let req = request(demo.server)[r.method as 'get'](path).set('content-type', r.contentType);
  const authorization = r.authorization === 'valid' ? `Bearer ${validToken}` : r.authorization === 'bearer-valid' ? `bearer ${validToken}` : r.authorization;
  if (authorization) req = req.set('Authorization', authorization);
  return req.send(r.payload);
}

function expectDeclaredAnswer(res: request.Response, allowStoreOutage: boolean): void {
  if (allowStoreOutage && res.status === 503) {
    expect(res.body.code).toBe('defense_store_unavailable');
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  } else {
    expect(res.status).toBeLessThan(500);
  }
  if (res.status >= 400) {
    expect(CODES.has(res.body.code)).toBe(true);
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['x-powered-by']).toBeUndefined();
  }
}

describe.each(ADAPTERS)('hostile requests against the demo over %s', (adapter) => {
  let demo: DemoHandle;
  let token: string;
  beforeAll(async () => {
    demo = await startDemo(adapter, { THROTTLE_LIMIT: '1000000', LOGIN_LIMIT: '1000000' });
    token = (await login(demo, 'admin')).access_token;
  });
  afterAll(() => demo.close());

  it('never answer 5xx, and every error has a code of the closed set and the security headers (deep JSON and invalid UTF-8 in signed tokens included)', async () => {
    await fc.assert(
      fc.asyncProperty(hostileRequests(demo, () => token), async (r) => {
        const res = await send(demo, token, r);
        expectDeclaredAnswer(res, false);
        // A JSON body is parsed before the guard: a malformed (or too deep) one is a 400 first, whatever the token.
        const bodyIgnored = !r.contentType.startsWith('application/json');
        if (bodyIgnored && r.authorization.startsWith('Bearer ') && r.authorization.length > 100 && r.route === '/me' && r.method === 'get' && r.suffix === undefined) {
          expect(res.status).toBe(401);
        }
      }),
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

describe.each(ADAPTERS)('hostile requests during a store outage over %s', (adapter) => {
  let redis: RedisServer;
  let demo: DemoHandle;
  let token: string;
  beforeAll(async () => {
    redis = await RedisServer.start();
    demo = await startDemo(adapter, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `hostile-${adapter}:`, REDIS_COMMAND_TIMEOUT_MS: '200', THROTTLE_LIMIT: '1000000', LOGIN_LIMIT: '1000000' });
    token = (await login(demo, 'admin')).access_token;
    await redis.stop();
  }, 30_000);
  afterAll(async () => {
    await demo.close();
    await redis.destroy();
  });

  it('the only 5xx is the declared 503 defense_store_unavailable with Retry-After; every error keeps its code and headers', async () => {
    await fc.assert(
      fc.asyncProperty(hostileRequests(demo, () => token), async (r) => expectDeclaredAnswer(await send(demo, token, r), true)),
      { numRuns: 120 },
    );
  }, 120_000);
});

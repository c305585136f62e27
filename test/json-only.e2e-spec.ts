import { randomBytes } from 'node:crypto';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { RequestMethod } from '@nestjs/common';
import { Redis } from 'ioredis';
import request from 'supertest';
import { DefenseStore, MemoryDefenseStore } from '@jwt-defense/core/store';
import { AppModule } from '../apps/demo/src/app.module.js';
import { loadDemoConfig } from '../apps/demo/src/demo.config.js';
import { ADAPTERS, startDemo, type DemoHandle } from './support/demo-app.js';
import { login } from './support/demo-client.js';
import { RedisServer } from './support/redis-server.js';

// Finding I3 of issue #20: POST /auth/login took application/x-www-form-urlencoded, so a cross-site HTML form could
// post a login. The demo's auth and admin routes take JSON only: 415 unsupported_media_type otherwise, before the
// handler runs.

const LIMITS = { THROTTLE_LIMIT: '100000', LOGIN_LIMIT: '100000' };
const CREDENTIALS = { username: 'admin', password: 'admin-password' };
const SAFE = new Set([RequestMethod.GET, RequestMethod.HEAD, RequestMethod.OPTIONS]);
/** A header as the client sent it. */
const sent = (res: request.Response, name: string) => (res as unknown as { req: { getHeader(name: string): unknown } }).req.getHeader(name);

/** What a cross-site HTML form (or a no-cors fetch) can send without a CORS preflight, with a body and without. */
const NOT_JSON: Array<[string, string]> = [
  ['application/x-www-form-urlencoded', new URLSearchParams(CREDENTIALS).toString()],
  ['application/x-www-form-urlencoded', ''],
  ['multipart/form-data; boundary=xyz', `--xyz\r\nContent-Disposition: form-data; name="username"\r\n\r\nadmin\r\n--xyz\r\nContent-Disposition: form-data; name="password"\r\n\r\nadmin-password\r\n--xyz--\r\n`],
  ['multipart/form-data; boundary=xyz', ''],
  ['text/plain', JSON.stringify(CREDENTIALS)],
  ['text/plain;charset=UTF-8', ''],
];
const JSON_TYPES = ['application/json', 'application/json; charset=utf-8', 'Application/JSON;charset=UTF-8', 'application/vnd.api+json', 'application/merge-patch+json; charset=utf-8'];

/** Every unsafe-method route of the demo under /auth and /admin, read from its controllers' metadata. */
function unsafeAuthAndAdminRoutes(): Array<{ method: string; path: string }> {
  const module = AppModule.forRoot(loadDemoConfig({}));
  const routes: Array<{ method: string; path: string }> = [];
  // The demo's own controllers, and those of the modules it imports (the operations module's admin API).
  const imported = (module.imports ?? []).flatMap((entry) => ('controllers' in entry ? (entry.controllers ?? []) : []));
  for (const controller of [...(module.controllers ?? []), ...imported]) {
    const base = String(Reflect.getMetadata(PATH_METADATA, controller) ?? '');
    for (const name of Object.getOwnPropertyNames(Object.getPrototypeOf(controller.prototype)).concat(Object.getOwnPropertyNames(controller.prototype))) {
      const handler = controller.prototype[name];
      const method = typeof handler === 'function' ? (Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined) : undefined;
      if (method === undefined || SAFE.has(method)) continue;
      const path = `/${[base, String(Reflect.getMetadata(PATH_METADATA, handler) ?? '')].filter((part) => part && part !== '/').join('/')}`;
      if (/^\/(auth|admin)(\/|$)/.test(path)) routes.push({ method: RequestMethod[method].toLowerCase(), path: path.replace(/:[A-Za-z]+/g, 'x') });
    }
  }
  return routes;
}

describe('the unsafe auth and admin routes of the demo', () => {
  it('are found in its controllers (the list the suites below refuse non-JSON on)', () => {
    expect(unsafeAuthAndAdminRoutes().map(({ method, path }) => `${method} ${path}`)).toEqual(
      expect.arrayContaining([
        'post /auth/login',
        'post /auth/refresh',
        'post /auth/logout',
        'post /admin/users/x/revoke-all',
        'post /admin/tokens/x/revoke',
        'post /admin/incident/revoke-before',
        'post /admin/incident/rotate-key',
        'post /admin/incident/retire-key/x',
        'post /admin/incident/lockdown',
      ]),
    );
  });
});

describe.each(ADAPTERS)('JSON only on the demo\'s auth and admin routes over %s', (adapter) => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(() => redis.destroy());

  /** The demo on memory, or on Redis with its own prefix; and how many refresh sessions its store holds. */
  const STORES: Array<[string, () => Promise<{ demo: DemoHandle; sessions: () => Promise<number>; close: () => Promise<void> }>]> = [
    [
      'memory',
      async () => {
        const demo = await startDemo(adapter, LIMITS);
        const store = demo.app.get<MemoryDefenseStore>(DefenseStore, { strict: false });
        return { demo, sessions: async () => store.sizes.sessions, close: () => demo.close() };
      },
    ],
    [
      'redis',
      async () => {
        const prefix = `json${randomBytes(4).toString('hex')}:`;
        const demo = await startDemo(adapter, { ...LIMITS, REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix });
        const client = new Redis(redis.url);
        const sessions = async () => {
          let count = 0;
          let cursor = '0';
          do {
            const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}{u:*}:s:*`, 'COUNT', 500);
            cursor = next;
            count += keys.length;
          } while (cursor !== '0');
          return count;
        };
        return { demo, sessions, close: async () => (await demo.close(), void client.disconnect()) };
      },
    ],
  ];

  describe.each(STORES)('on %s', (_store, start) => {
    let demo: DemoHandle;
    let sessions: () => Promise<number>;
    let close: () => Promise<void>;
    beforeAll(async () => {
      ({ demo, sessions, close } = await start());
    });
    afterAll(() => close());

    it('POST /auth/login: 415 unsupported_media_type for a form, multipart or text/plain, with or without a body; no login made', async () => {
      const before = await sessions();
      for (const [type, body] of NOT_JSON) {
        const res = await request(demo.server).post('/auth/login').set('Content-Type', type).send(body);
        expect([type, body !== '', res.status, res.body]).toEqual([
          type,
          body !== '',
          415,
          { statusCode: 415, error: 'Unsupported Media Type', message: 'Unsupported media type.', code: 'unsupported_media_type' },
        ]);
        expect(res.headers['x-content-type-options']).toBe('nosniff');
        expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
        expect(res.headers['cache-control']).toBe('no-store');
        expect(res.body.access_token).toBeUndefined();
      }
      // A body without a Content-Type is not JSON either.
      const untyped = await request(demo.server).post('/auth/login').send(Buffer.from(JSON.stringify(CREDENTIALS)));
      expect(sent(untyped, 'content-type')).toBeUndefined();
      expect([untyped.status, untyped.body.code]).toEqual([415, 'unsupported_media_type']);
      expect(await sessions()).toBe(before);
    });

    it('JSON passes: application/json and the +json types, any case, with a charset', async () => {
      const before = await sessions();
      for (const type of JSON_TYPES) {
        const res = await request(demo.server).post('/auth/login').set('Content-Type', type).send(JSON.stringify(CREDENTIALS));
        expect([type, res.status, res.body.token_type]).toEqual([type, 200, 'Bearer']);
      }
      expect(await sessions()).toBe(before + JSON_TYPES.length);
      // Parsed by the same parser as application/json: too deep is 400 at parse time there too.
      const deep = await request(demo.server).post('/auth/login').set('Content-Type', 'application/vnd.api+json').send(`${'['.repeat(40)}1${']'.repeat(40)}`);
      expect([deep.status, deep.body.code]).toEqual([400, 'invalid_request']);
    });

    it('a request with neither a body nor a Content-Type passes (a logout from fetch); the session it ends is revoked', async () => {
      const pair = await login(demo, 'alice');
      const res = await request(demo.server).post('/auth/logout').set('Authorization', `Bearer ${pair.access_token}`);
      expect(sent(res, 'content-type')).toBeUndefined();
      expect(res.status).toBe(204);
      const me = await request(demo.server).get('/me').set('Authorization', `Bearer ${pair.access_token}`);
      expect([me.status, me.body.code]).toEqual([401, 'token_revoked']);
    });

    it('every unsafe auth and admin route refuses a form post with 415 before its handler runs', async () => {
      const adminToken = (await login(demo, 'admin')).access_token;
      const signingKid = JSON.parse(Buffer.from(adminToken.split('.')[0], 'base64url').toString()).kid;
      for (const { method, path } of unsafeAuthAndAdminRoutes()) {
        const form = new URLSearchParams({ reason: 'cross-site', mode: 'deny-non-admin', refresh_token: 'x', ...CREDENTIALS }).toString();
        const res = await request(demo.server)[method as 'post'](path).set('Authorization', `Bearer ${adminToken}`).set('Content-Type', 'application/x-www-form-urlencoded').send(form);
        expect([method, path, res.status, res.body.code]).toEqual([method, path, 415, 'unsupported_media_type']);
        expect(res.headers['x-content-type-options']).toBe('nosniff');
      }
      // None ran: the admin's token still works (no logout), no lockdown, no rotation.
      const status = await request(demo.server).get('/admin/incident/status').set('Authorization', `Bearer ${adminToken}`);
      expect(status.status).toBe(200);
      expect(status.body).toMatchObject({ lockdown: { mode: 'off' }, signing_kid: signingKid });
    });
  });
});

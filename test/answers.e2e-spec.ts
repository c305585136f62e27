import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { JwtDefenseModule, TokenService, type JwtDefenseModuleOptions } from '@jwt-defense/core';
import { ADAPTERS } from './support/demo-app.js';
import { fixtureOptions, startFixture } from './fixtures/fixture.app.js';
import { LayersController } from './fixtures/layers.controller.js';
import { RedisServer } from './support/redis-server.js';

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
};

function expectAnswer(res: request.Response, status: number, code?: string): void {
  expect(res.status).toBe(status);
  expect(res.headers).toMatchObject(SECURITY_HEADERS);
  if (code) {
    expect(res.body.code).toBe(code);
    expect(res.headers['cache-control']).toBe('no-store');
  }
  if (status === 429 || status === 503) expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
}

const start = (adapter: 'express' | 'fastify', overrides: Partial<JwtDefenseModuleOptions>) =>
  startFixture(adapter, JwtDefenseModule.forRoot(fixtureOptions(overrides)), [LayersController]);

describe.each(ADAPTERS)('what every answer carries, over %s', (adapter) => {
  describe('429 from every rate-limit layer', () => {
    let app: INestApplication;
    let bearer: string;
    beforeAll(async () => {
      app = await start(adapter, { throttle: { ip: { limit: 6, ttlMs: 60_000 }, user: { limit: 2, ttlMs: 60_000 } } });
      bearer = `Bearer ${(await app.get(TokenService).issue('alice')).token}`;
    });
    afterAll(() => app.close());

    it('per user, per body field and per IP: 429 rate_limited, Retry-After, security headers', async () => {
      const server = app.getHttpServer();
      expectAnswer(await request(server).get('/layers/private').set('Authorization', bearer), 200);
      expectAnswer(await request(server).get('/layers/private').set('Authorization', bearer), 200);
      expectAnswer(await request(server).get('/layers/private').set('Authorization', bearer), 429, 'rate_limited');
      expectAnswer(await request(server).post('/layers/login').send({ username: 'bob' }), 200);
      expectAnswer(await request(server).post('/layers/login').send({ username: 'bob' }), 200);
      expectAnswer(await request(server).post('/layers/login').send({ username: 'Bob' }), 429, 'rate_limited');
      // Seven requests from this address so far, over its limit of six.
      expectAnswer(await request(server).get('/layers/public'), 429, 'rate_limited');
    });
  });

  describe('503 from every layer that counts or checks in the store, and from a handler', () => {
    let redis: RedisServer;
    let app: INestApplication;
    let openThrottle: INestApplication;
    let bearer: string;
    beforeAll(async () => {
      redis = await RedisServer.start();
      const store = { type: 'redis' as const, connection: redis.url, commandTimeoutMs: 300 };
      app = await start(adapter, { store: { ...store, keyPrefix: `ans-${adapter}-a:` }, throttle: { failMode: 'closed' } });
      openThrottle = await start(adapter, { store: { ...store, keyPrefix: `ans-${adapter}-b:` } });
      bearer = `Bearer ${(await app.get(TokenService).issue('alice')).token}`;
      await redis.stop();
    }, 30_000);
    afterAll(async () => {
      await Promise.all([app.close(), openThrottle.close()]);
      await redis.destroy();
    });

    it('the per-IP limit, when it fails closed', async () => {
      expectAnswer(await request(app.getHttpServer()).get('/layers/public'), 503, 'defense_store_unavailable');
    });

    it('the body-field limit fails closed by default, before the handler runs', async () => {
      const before = LayersController.loginCalls;
      expectAnswer(await request(openThrottle.getHttpServer()).post('/layers/login').send({ username: 'bob' }), 503, 'defense_store_unavailable');
      expect(LayersController.loginCalls).toBe(before);
    });

    it('the per-request check (revocation fails closed by default)', async () => {
      expectAnswer(await request(openThrottle.getHttpServer()).get('/layers/private').set('Authorization', bearer), 503, 'defense_store_unavailable');
    });

    it("a handler's own store work: 503, never a 500", async () => {
      expectAnswer(await request(openThrottle.getHttpServer()).post('/layers/store-work'), 503, 'defense_store_unavailable');
    });

    it('fail-open layers still answer with the security headers', async () => {
      expectAnswer(await request(openThrottle.getHttpServer()).get('/layers/public'), 200);
    });
  });

  describe('the IETF RateLimit fields, when opted in', () => {
    let app: INestApplication;
    beforeAll(async () => {
      app = await start(adapter, { throttle: { headers: true, ip: { limit: 10, ttlMs: 60_000 }, user: { limit: 5, ttlMs: 30_000 } } });
    });
    afterAll(() => app.close());

    it('describe the per-IP and per-user limits on success and on 429', async () => {
      const server = app.getHttpServer();
      const bearer = `Bearer ${(await app.get(TokenService).issue('carol')).token}`;
      const ok = await request(server).get('/layers/private').set('Authorization', bearer);
      expect(ok.headers['ratelimit-policy']).toBe('"ip";q=10;w=60, "user";q=5;w=30');
      expect(ok.headers.ratelimit).toMatch(/^"ip";r=9;t=\d+, "user";r=4;t=\d+$/);
      for (let i = 0; i < 4; i++) expect((await request(server).get('/layers/private').set('Authorization', bearer)).status).toBe(200);
      const limited = await request(server).get('/layers/private').set('Authorization', bearer);
      expectAnswer(limited, 429, 'rate_limited');
      expect(limited.headers['ratelimit-policy']).toBe('"ip";q=10;w=60, "user";q=5;w=30');
      expect(limited.headers.ratelimit).toMatch(/"user";r=0;t=([1-9]|[12]\d|30)(,|$)/);
    });

    it('never for a body-field limit (it would show login activity on any account)', async () => {
      const res = await request(app.getHttpServer()).post('/layers/login').send({ username: 'dave' });
      expect(res.status).toBe(200);
      expect(res.headers['ratelimit-policy']).toBe('"ip";q=10;w=60');
      expect(res.headers.ratelimit).not.toContain('body');
    });

    it('are absent by default', async () => {
      const plain = await start(adapter, {});
      const res = await request(plain.getHttpServer()).get('/layers/public');
      expect(res.headers['ratelimit-policy']).toBeUndefined();
      expect(res.headers.ratelimit).toBeUndefined();
      await plain.close();
    });
  });
});

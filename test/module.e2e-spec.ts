import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { JwtDefenseModule, TokenService } from '@jwt-defense/core';
import { ADAPTERS } from './support/demo-app.js';
import { fixtureOptions, startFixture } from './fixtures/fixture.app.js';

describe.each(ADAPTERS)('JwtDefenseModule in another app over %s', (adapter) => {
  describe('forRootAsync with the defaults', () => {
    let app: INestApplication;
    let tokens: TokenService;
    beforeAll(async () => {
      app = await startFixture(adapter, JwtDefenseModule.forRootAsync({ useFactory: async () => fixtureOptions() }));
      tokens = app.get(TokenService);
    });
    afterAll(() => app.close());

    const bearer = async (claims: Record<string, unknown>) => `Bearer ${(await tokens.issue('bob', claims)).token}`;

    it('requires every scope of the controller policy', async () => {
      const ok = await request(app.getHttpServer()).get('/orders').set('Authorization', await bearer({ scope: 'orders:read other' }));
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({ sub: 'bob' });
      const denied = await request(app.getHttpServer()).get('/orders').set('Authorization', await bearer({ scope: 'other' }));
      expect(denied.status).toBe(403);
      expect(denied.body.code).toBe('insufficient_scope');
    });

    it("a handler's policy replaces its controller's", async () => {
      const admin = await request(app.getHttpServer()).get('/orders/admin').set('Authorization', await bearer({ roles: ['admin'] }));
      expect(admin.status).toBe(200);
      const user = await request(app.getHttpServer()).get('/orders/admin').set('Authorization', await bearer({ scope: 'orders:read', roles: ['user'] }));
      expect(user.status).toBe(403);
    });

    it('@SecurityHeaders overrides a public route, but never caching of an authenticated one', async () => {
      const catalog = await request(app.getHttpServer()).get('/orders/catalog');
      expect(catalog.status).toBe(200);
      expect(catalog.headers['cache-control']).toBe('public, max-age=60');
      expect(catalog.headers['content-security-policy']).toBeUndefined();
      expect(catalog.headers['x-content-type-options']).toBe('nosniff');

      const mine = await request(app.getHttpServer()).get('/orders/mine').set('Authorization', await bearer({ scope: 'orders:read' }));
      expect(mine.status).toBe(200);
      expect(mine.headers['cache-control']).toBe('no-store');
    });

    it('an unexpected error is a 500 internal_error that leaks nothing', async () => {
      const res = await request(app.getHttpServer()).get('/orders/boom').set('Authorization', await bearer({ scope: 'orders:read' }));
      expect(res.status).toBe(500);
      expect(res.body).toEqual({ statusCode: 500, error: 'Internal Server Error', message: 'Internal server error.', code: 'internal_error' });
      expect(res.text).not.toContain('internal detail');
      expect(res.headers['x-frame-options']).toBe('DENY');
    });
  });

  describe('with globalGuard and exceptionFilter off, and securityHeaders false', () => {
    let app: INestApplication;
    beforeAll(async () => {
      app = await startFixture(
        adapter,
        JwtDefenseModule.forRoot({ ...fixtureOptions({ securityHeaders: false }), globalGuard: false, exceptionFilter: false }),
      );
    });
    afterAll(() => app.close());

    it('registers no global guard: routes are open unless guarded explicitly', async () => {
      const open = await request(app.getHttpServer()).get('/orders/admin');
      expect(open.status).toBe(200);
      const guarded = await request(app.getHttpServer()).get('/orders/explicit');
      expect(guarded.status).toBe(401);
      expect(guarded.headers['www-authenticate']).toBe('Bearer realm="api"');
      // Nest's own filter answers, but the body built by the exception still has the code.
      expect(guarded.body.code).toBe('token_missing');
    });

    it('sets no security headers', async () => {
      const res = await request(app.getHttpServer()).get('/orders/catalog');
      expect(res.headers['x-content-type-options']).toBeUndefined();
      expect(res.headers['strict-transport-security']).toBeUndefined();
    });

    it("leaves unexpected errors to Nest's own filter", async () => {
      const res = await request(app.getHttpServer()).get('/orders/boom');
      expect(res.status).toBe(500);
      expect(res.body.code).toBeUndefined();
    });
  });
});

// No HTTP involved: the boot fails before any adapter listens, so one adapter shows it.
describe('a registration switch returned by the forRootAsync factory', () => {
  it.each([
    ['globalGuard', { globalGuard: false }],
    ['exceptionFilter', { exceptionFilter: false }],
    ['isGlobal', { isGlobal: true }],
  ])('%s stops the boot naming it and saying "move it beside useFactory"', async (name, extra) => {
    const boot = startFixture('express', JwtDefenseModule.forRootAsync({ useFactory: async () => ({ ...fixtureOptions(), ...extra }) }));
    await expect(boot).rejects.toThrow(TypeError);
    await expect(boot).rejects.toThrow(new RegExp(`${name} .*move it beside useFactory`));
  });

  it('beside useFactory it is honoured', async () => {
    const app = await startFixture('express', JwtDefenseModule.forRootAsync({ globalGuard: false, useFactory: async () => fixtureOptions() }));
    try {
      expect((await request(app.getHttpServer()).get('/orders/admin')).status).toBe(200);
    } finally {
      await app.close();
    }
  });
});

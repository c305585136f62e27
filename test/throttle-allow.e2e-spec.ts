import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { JwtDefenseModule, RevocationService, TokenService, type JwtDefenseModuleOptions } from '@jwt-defense/core';
import { ADAPTERS } from './support/demo-app.js';
import { fixtureOptions, OrdersController, startFixture } from './fixtures/fixture.app.js';
import { LayersController } from './fixtures/layers.controller.js';
import { signJws } from './support/jws.js';
import { useRedisTopologies } from './support/redis-topologies.js';

// throttle.allow (#23 item 4): an allow-listed client skips the per-IP and per-user limits, never authentication and
// never a body-field limit. The test client is 127.0.0.1; a client behind the trusted loopback proxy is not listed.

const redis = useRedisTopologies();
const prefix = () => `allow${randomBytes(4).toString('hex')}:`;

const STORES: Array<[string, () => JwtDefenseModuleOptions['store']]> = [
  ['memory', () => ({ type: 'memory' })],
  ['redis', () => ({ type: 'redis', connection: redis.standalone.url, keyPrefix: prefix() })],
  ['cluster', () => ({ type: 'redis', connection: { clusterNodes: redis.cluster.clusterNodes }, keyPrefix: prefix() })],
];

const limit = { limit: 2, ttlMs: 60_000 };

describe.each(STORES)('throttle.allow on the %s store', (_store, store) => {
  describe.each(ADAPTERS)('over %s', (adapter) => {
    let app: INestApplication;
    const server = () => app.getHttpServer();
    const bearer = async (sub: string) => `Bearer ${(await app.get(TokenService).issue(sub)).token}`;
    const statuses = async (count: number, send: (i: number) => request.Test) => {
      const answers: request.Response[] = [];
      for (let i = 0; i < count; i++) answers.push(await send(i));
      return answers;
    };

    beforeAll(async () => {
      const options = fixtureOptions({
        store: store(),
        proxy: { trusted: ['127.0.0.1/32', '::1/128'] },
        throttle: { ip: limit, user: limit, allow: ['127.0.0.0/8'], headers: true },
      });
      app = await startFixture(adapter, JwtDefenseModule.forRoot(options), [LayersController, OrdersController]);
    });
    afterAll(() => app?.close());

    it('an allow-listed client is limited neither per IP nor per user, and its skipped limits send no RateLimit fields', async () => {
      const open = await statuses(5, () => request(server()).get('/layers/public'));
      const auth = await bearer('alice');
      const own = await statuses(5, () => request(server()).get('/layers/private').set('Authorization', auth));
      for (const res of [...open, ...own]) {
        expect(res.status).toBe(200);
        expect(res.headers['ratelimit-policy']).toBeUndefined();
        expect(res.headers.ratelimit).toBeUndefined();
      }
      expect(own[4].body).toEqual({ sub: 'alice' });
    });

    it('an allow-listed client is still authenticated: no token, a forged one, a revoked one, a missing role', async () => {
      const missing = await statuses(4, () => request(server()).get('/layers/private'));
      expect(missing.map((res) => [res.status, res.body.code])).toEqual(Array(4).fill([401, 'token_missing']));
      const forged = signJws({ alg: 'HS256', typ: 'at+jwt', kid: 'fixture-hs' }, { sub: 'alice', iss: 'fixture', aud: 'fixture-api', iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 60, jti: 'forged' }, randomBytes(32), 'HS256');
      const refused = await statuses(3, () => request(server()).get('/layers/private').set('Authorization', `Bearer ${forged}`));
      expect(refused.map((res) => [res.status, res.body.code])).toEqual(Array(3).fill([401, 'signature_invalid']));
      const bob = await bearer('bob');
      await app.get(RevocationService).revokeAllForUser('bob', 'test');
      const revoked = await request(server()).get('/layers/private').set('Authorization', bob);
      expect([revoked.status, revoked.body.code]).toEqual([401, 'token_revoked']);
      const noRole = await request(server()).get('/orders/admin').set('Authorization', await bearer('carol'));
      expect([noRole.status, noRole.body.code]).toEqual([403, 'insufficient_scope']);
    });

    it("a login's per-username limit still answers 429 to an allow-listed client (anyone can type a username)", async () => {
      const logins = await statuses(3, () => request(server()).post('/layers/login').send({ username: 'dave' }));
      expect(logins.map((res) => res.status)).toEqual([200, 200, 429]);
      expect(logins[2].body.code).toBe('rate_limited');
    });

    it('a client not on the list (behind the trusted proxy) is limited per IP and per user; naming a listed address in X-Forwarded-For does not help', async () => {
      const spoofed = await statuses(3, () => request(server()).get('/layers/public').set('X-Forwarded-For', '127.0.0.1, 203.0.113.7'));
      expect(spoofed.map((res) => res.status)).toEqual([200, 200, 429]);
      expect(spoofed[0].headers['ratelimit-policy']).toBe('"ip";q=2;w=60');
      // erin's allow-listed requests counted nothing against her user limit: from other IPs she has her whole budget.
      const erin = await bearer('erin');
      await statuses(3, () => request(server()).get('/layers/private').set('Authorization', erin));
      const elsewhere = await statuses(3, (i) => request(server()).get('/layers/private').set('X-Forwarded-For', `198.51.100.${i + 1}`).set('Authorization', erin));
      expect(elsewhere.map((res) => res.status)).toEqual([200, 200, 429]);
      expect(elsewhere[2].body.code).toBe('rate_limited');
    });
  });
});

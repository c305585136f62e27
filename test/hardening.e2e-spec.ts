import { execFileSync } from 'node:child_process';
import request from 'supertest';
import { UsersService } from '../apps/demo/src/auth/users.service.js';
import { ADAPTERS, startDemo, type DemoHandle } from './support/demo-app.js';
import { admin, login, me } from './support/demo-client.js';
import { signJws } from './support/jws.js';
import { RedisServer } from './support/redis-server.js';

// One regression test per finding of the security review (issue "Hardening"), named after it. Each fails on
// main as of commit 28a4b04.

const SECURITY_HEADERS = { 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY' };
const TRUSTED = { TRUST_PROXY: '127.0.0.1/32,::1/128,::ffff:127.0.0.1/128' };
let prefix = 0;

function expect503(res: request.Response): void {
  expect(res.status).toBe(503);
  expect(res.body.code).toBe('defense_store_unavailable');
  expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  expect(res.headers).toMatchObject(SECURITY_HEADERS);
}

describe.each(ADAPTERS)('security review findings over %s', (adapter) => {
  describe('with Redis stopped', () => {
    let redis: RedisServer;
    let demo: DemoHandle;
    let refreshToken: string;
    beforeAll(async () => {
      redis = await RedisServer.start();
      demo = await startDemo(adapter, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `hard${prefix++}:`, LOGIN_LIMIT: '10', REDIS_COMMAND_TIMEOUT_MS: '300' });
      refreshToken = (await login(demo, 'alice')).refresh_token;
      await redis.stop();
    }, 30_000);
    afterAll(async () => {
      await demo.close();
      await redis.destroy();
    });

    it('finding 1: a store outage on login and on refresh is the declared 503 with Retry-After, never a 500', async () => {
      expect503(await request(demo.server).post('/auth/login').send({ username: 'alice', password: 'alice-password' }));
      expect503(await request(demo.server).post('/auth/refresh').send({ refresh_token: refreshToken }));
    });

    it('finding 2: a store outage does not lift the login limit: no password is checked while it cannot be counted', async () => {
      const statuses = new Set<number>();
      for (let i = 0; i < 40; i++) {
        statuses.add((await request(demo.server).post('/auth/login').send({ username: 'alice', password: `guess-${i}` })).status);
      }
      expect([...statuses]).toEqual([503]);
    });
  });

  describe('with Redis hung (CLIENT PAUSE)', () => {
    let redis: RedisServer;
    let demo: DemoHandle;
    let token: string;
    beforeAll(async () => {
      redis = await RedisServer.start();
      demo = await startDemo(adapter, { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `hard${prefix++}:`, REDIS_COMMAND_TIMEOUT_MS: '1000' });
      token = (await login(demo, 'alice')).access_token;
    }, 30_000);
    afterAll(async () => {
      execFileSync('redis-cli', ['-p', String(redis.port), 'CLIENT', 'UNPAUSE']);
      await demo.close();
      await redis.destroy();
    });

    it("finding 3: one deadline for a request's store work: every answer within the command timeout plus a margin", async () => {
      execFileSync('redis-cli', ['-p', String(redis.port), 'CLIENT', 'PAUSE', '8000', 'ALL']);
      const timed = async (send: () => request.Test) => {
        const started = performance.now();
        const res = await send();
        return { status: res.status, ms: performance.now() - started };
      };
      // A functional bound (1000 ms timeout + 600 ms margin), not a performance figure.
      const answers = [
        await timed(() => me(demo, token)),
        await timed(() => request(demo.server).post('/auth/login').send({ username: 'alice', password: 'alice-password' })),
        await timed(() => me(demo, token)),
        await timed(() => request(demo.server).post('/auth/refresh').send({ refresh_token: 'x'.repeat(12) })),
      ];
      for (const answer of answers) {
        expect(answer.status).toBeLessThan(600);
        expect(answer.status).not.toBe(500);
        expect(answer.ms).toBeLessThan(1600);
      }
      expect(answers.map((answer) => answer.status).slice(0, 3)).toEqual([503, 503, 503]);
    }, 20_000);
  });

  describe('on the memory store', () => {
    let demo: DemoHandle;
    beforeAll(async () => {
      demo = await startDemo(adapter, { THROTTLE_LIMIT: '100000', LOGIN_LIMIT: '100000' });
    });
    afterAll(() => demo.close());

    it.each(['/auth/login', '/auth/refresh', '/admin/users/alice/revoke-all'])(
      'finding 6: deeply nested JSON to %s is 400 invalid_request at parse time, never a 500',
      async (path) => {
        for (const levels of [2000, 45_000]) {
          const res = await request(demo.server).post(path).set('content-type', 'application/json').send(`${'['.repeat(levels)}${']'.repeat(levels)}`);
          expect(res.status).toBe(400);
          expect(res.body.code).toBe('invalid_request');
          expect(res.headers).toMatchObject(SECURITY_HEADERS);
        }
        // Ordinary nesting still works.
        const ok = await request(demo.server).post('/auth/login').send({ username: 'alice', password: 'alice-password' });
        expect(ok.status).toBe(200);
      },
    );

    it('finding 7: revoking a foreign-format jti without sub is 400 subject_required; with sub it is enforced', async () => {
      const adminToken = (await login(demo, 'admin')).access_token;
      const now = Math.floor(Date.now() / 1000);
      const kid = JSON.parse(Buffer.from(adminToken.split('.')[0], 'base64url').toString()).kid;
      // Validly signed, with a jti shaped like the old own format (42 base64url characters) but not ours.
      const foreignJti = 'A'.repeat(12) + 'B'.repeat(30);
      const foreign = signJws(
        { alg: 'ES256', typ: 'at+jwt', kid },
        { iss: 'jwt-defense-demo', aud: 'jwt-defense-demo', sub: 'alice', jti: foreignJti, iat: now, exp: now + 300, roles: ['user'] },
        demo.privateKey,
        'ES256',
      );
      expect((await me(demo, foreign)).status).toBe(200);
      const refused = await admin(demo, adminToken, 'post', `/admin/tokens/${foreignJti}/revoke`, { reason: 'stolen' });
      expect(refused.status).toBe(400);
      expect(refused.body.code).toBe('subject_required');
      expect((await me(demo, foreign)).status).toBe(200);
      const revoked = await admin(demo, adminToken, 'post', `/admin/tokens/${foreignJti}/revoke`, { reason: 'stolen', sub: 'alice' });
      expect(revoked.status).toBe(200);
      expect((await me(demo, foreign)).body.code).toBe('token_revoked');
      // The demo's own jtis still revoke by jti alone.
      const own = (await login(demo, 'alice')).access_token;
      const ownJti = (await me(demo, own)).body.jti;
      expect((await admin(demo, adminToken, 'post', `/admin/tokens/${ownJti}/revoke`, { reason: 'stolen' })).status).toBe(200);
      expect((await me(demo, own)).body.code).toBe('token_revoked');
    });

    it("finding 10: a refresh gives the user's current roles, not the ones of the login", async () => {
      const { refresh_token: refreshToken } = await login(demo, 'alice');
      demo.app.get(UsersService).setRoles('alice', ['user', 'auditor']);
      try {
        const refreshed = await request(demo.server).post('/auth/refresh').send({ refresh_token: refreshToken });
        expect(refreshed.status).toBe(200);
        expect((await me(demo, refreshed.body.access_token)).body.roles).toEqual(['user', 'auditor']);
      } finally {
        demo.app.get(UsersService).setRoles('alice', ['user']);
      }
    });

    it('finding 11: one spelling per refresh-token MAC: the other spellings of its last character are refused', async () => {
      const { refresh_token: refreshToken } = await login(demo, 'alice');
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const last = alphabet.indexOf(refreshToken.slice(-1));
      const spellings = [0, 1, 2, 3].map((low) => alphabet[(last & ~3) | low]).filter((char) => char !== refreshToken.slice(-1));
      expect(spellings).toHaveLength(3);
      for (const char of spellings) {
        const variant = refreshToken.slice(0, -1) + char;
        expect(Buffer.from(variant.split('.')[3], 'base64url')).toEqual(Buffer.from(refreshToken.split('.')[3], 'base64url'));
        const res = await request(demo.server).post('/auth/refresh').send({ refresh_token: variant });
        expect(res.status).toBe(401);
        expect(res.body.code).toBe('token_malformed');
      }
      expect((await request(demo.server).post('/auth/refresh').send({ refresh_token: refreshToken })).status).toBe(200);
    });
  });

  describe('behind a proxy that writes only Forwarded', () => {
    let demo: DemoHandle;
    beforeAll(async () => {
      demo = await startDemo(adapter, { ...TRUSTED, TRUST_PROXY_HEADER: 'forwarded', LOGIN_LIMIT: '5', THROTTLE_LIMIT: '100000' });
    });
    afterAll(() => demo.close());

    it("finding 8: a client's own X-Forwarded-For does not override the trusted proxy's Forwarded", async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 15; i++) {
        const res = await request(demo.server)
          .post('/auth/login')
          .set('Forwarded', 'for=198.51.100.7;proto=https')
          .set('X-Forwarded-For', `203.0.113.${i + 1}`)
          .send({ username: `user${i}`, password: 'x' });
        statuses.push(res.status);
      }
      expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
      expect(statuses.slice(5)).toEqual(Array(10).fill(429));
    });
  });
});

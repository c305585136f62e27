import { randomBytes } from 'node:crypto';
import { Controller, Get, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { CurrentPrincipal, DefensePolicy, JwtDefenseModule, TokenService, type AccessTokenPrincipal, type JwtDefenseModuleOptions, type ThrottleOptions } from '@jwt-defense/core';
import { ADAPTERS } from './support/demo-app.js';
import { useRedisTopologies } from './support/redis-topologies.js';
import { fixtureOptions, startFixture } from './fixtures/fixture.app.js';

// #23 item 3: the per-user limit from the principal (`throttle.userBy`), on every store and adapter.

const redis = useRedisTopologies();
const prefix = () => `plan${randomBytes(3).toString('hex')}:`;
const STORES: Array<[string, () => JwtDefenseModuleOptions['store']]> = [
  ['memory', () => ({ type: 'memory' })],
  ['redis standalone', () => ({ type: 'redis', connection: redis.standalone.url, keyPrefix: prefix() })],
  ['redis cluster', () => ({ type: 'redis', connection: { clusterNodes: redis.cluster.clusterNodes }, keyPrefix: prefix() })],
];

@Controller('plan')
class PlanController {
  @Get()
  me(@CurrentPrincipal() principal: AccessTokenPrincipal) {
    return { sub: principal.sub };
  }

  /** A route's own user limit applies to every principal, whatever its plan. */
  @DefensePolicy({ throttle: { user: { limit: 2, ttlMs: 60_000 } } })
  @Get('export')
  export() {
    return { ok: true };
  }
}

const THROTTLE: ThrottleOptions = {
  // The per-IP limit stays on (high enough for the suite): a principal without a user limit is still counted per IP.
  ip: { limit: 10_000, ttlMs: 60_000 },
  user: { limit: 3, ttlMs: 60_000 },
  userBy: { claim: 'plan', limits: { free: { limit: 2, ttlMs: 60_000 }, pro: { limit: 6, ttlMs: 3_600_000 }, internal: false } },
  headers: true,
};

describe.each(ADAPTERS)('limits by principal over %s', (adapter) => {
  describe.each(STORES)('on %s', (_store, store) => {
    let app: INestApplication;
    let tokens: TokenService;
    beforeAll(async () => {
      app = await startFixture(adapter, JwtDefenseModule.forRoot(fixtureOptions({ store: store(), throttle: THROTTLE, revocation: { cleanupCron: false } })), [PlanController]);
      tokens = app.get(TokenService);
    });
    afterAll(() => app.close());

    const token = async (sub: string, claims: Record<string, unknown> = {}) => (await tokens.issue(sub, claims)).token;
    const get = (token: string, path = '/plan') => request(app.getHttpServer()).get(path).set('Authorization', `Bearer ${token}`);
    const statuses = async (token: string, count: number, path?: string) => {
      const seen: number[] = [];
      for (let i = 0; i < count; i++) seen.push((await get(token, path)).status);
      return seen;
    };

    it("a principal's plan gives its limit: a free token is refused at its limit while a pro token of another user goes on to its own", async () => {
      const free = await token('plan-free', { plan: 'free' });
      const pro = await token('plan-pro', { plan: 'pro' });
      const first = await get(free);
      expect(first.status).toBe(200);
      expect(first.headers['ratelimit-policy']).toContain('"user";q=2;w=60');
      expect(await statuses(free, 2)).toEqual([200, 429]);
      const refused = await get(free);
      expect(refused.status).toBe(429);
      expect(refused.body.code).toBe('rate_limited');
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);

      const going = await get(pro);
      expect(going.status).toBe(200);
      expect(going.headers['ratelimit-policy']).toContain('"user";q=6;w=3600');
      expect(await statuses(pro, 6)).toEqual([200, 200, 200, 200, 200, 429]);
    });

    it('a plan mapped to false is not user-limited, and is still counted per IP', async () => {
      const internal = await token('plan-internal', { plan: 'internal' });
      expect(await statuses(internal, 12)).toEqual(Array(12).fill(200));
      const policy = (await get(internal)).headers['ratelimit-policy'];
      expect(policy).toContain('"ip";q=10000;w=60');
      expect(policy).not.toContain('"user"');
    });

    it.each([
      ['an unknown plan', { plan: 'enterprise' }],
      ['a token without the claim', {}],
    ])('%s gets the default user limit', async (name, claims) => {
      const other = await token(`plan-default-${name.length}`, claims);
      expect((await get(other)).headers['ratelimit-policy']).toContain('"user";q=3;w=60');
      expect(await statuses(other, 3)).toEqual([200, 200, 429]);
    });

    it("a route's own user limit counts on a counter of its own: the user's requests elsewhere do not spend it, nor it theirs", async () => {
      // The default user limit is 3 (no plan): spent on /plan, /plan/export still has its own 2, and the other way round.
      const spent = await token('own-counter-a');
      expect(await statuses(spent, 4)).toEqual([200, 200, 200, 429]);
      expect(await statuses(spent, 3, '/plan/export')).toEqual([200, 200, 429]);
      const other = await token('own-counter-b');
      expect(await statuses(other, 3, '/plan/export')).toEqual([200, 200, 429]);
      expect(await statuses(other, 4)).toEqual([200, 200, 200, 429]);
    });

    it("a route's own user limit wins over the plan (pro and internal alike)", async () => {
      for (const plan of ['pro', 'internal']) {
        const principal = await token(`plan-export-${plan}`, { plan });
        expect(await statuses(principal, 3, '/plan/export')).toEqual([200, 200, 429]);
      }
    });
  });
});

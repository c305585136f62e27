import request from 'supertest';
import { TokenService } from '@jwt-defense/core';
import { BackgroundWrites } from '../../libs/jwt-defense/src/common/background-writes.js';
import { DefenseClock } from '../../libs/jwt-defense/src/common/defense-clock.js';
import { startDemo, writeEs256KeyFiles, type DemoHandle } from '../support/demo-app.js';
import { admin, login, me } from '../support/demo-client.js';
import { RedisServer } from '../support/redis-server.js';

// Clock skew between instances, within the clock tolerance (30 s), must not flip decisions: revocation epochs, risk
// challenges and the login times they are compared with come from one clock (Redis TIME), not from each instance's own.

const SKEW_MS = 2000;

/** Moves one instance's clock (the DefenseClock every service of that app holds) by `offsetMs`. */
function skew(demo: DemoHandle, offsetMs: number): void {
  const clock = demo.app.get(DefenseClock);
  clock.nowMs = () => Date.now() + offsetMs;
}

describe('clock skew between two instances on one Redis', () => {
  let redis: RedisServer;
  let fast: DemoHandle;
  let slow: DemoHandle;

  beforeAll(async () => {
    redis = await RedisServer.start();
    const keys = writeEs256KeyFiles();
    const env = {
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: 'skew:',
      THROTTLE_LIMIT: '100000',
      LOGIN_LIMIT: '100000',
      // Context risk: the country header believed from loopback, and a step-up (never a deny) for a new context.
      TRUST_PROXY: '127.0.0.1/32,::1/128,::ffff:127.0.0.1/128',
      RISK_DENY_AT: '2',
    };
    [fast, slow] = await Promise.all([startDemo('express', env, keys), startDemo('express', env, keys)]);
    skew(fast, SKEW_MS);
    skew(slow, -SKEW_MS);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([fast?.close(), slow?.close()]);
    await redis?.destroy();
  });

  it('a revoke-all on the fast instance refuses older tokens everywhere, and a login right after it on the slow one works on both', async () => {
    const adminToken = (await login(fast, 'admin')).access_token;
    const before = (await login(slow, 'alice')).access_token;
    expect((await admin(fast, adminToken, 'post', '/admin/users/alice/revoke-all', { reason: 'skew test' })).status).toBeLessThan(300);
    const after = (await login(slow, 'alice')).access_token;
    for (const demo of [fast, slow]) {
      const refused = await me(demo, before);
      expect([refused.status, refused.body.code]).toEqual([401, 'token_revoked']);
      expect((await me(demo, after)).status).toBe(200);
    }
  });

  it('a revoke-before (default now) on the fast instance does not refuse a login made right after it on the slow one', async () => {
    const adminToken = (await login(fast, 'admin')).access_token;
    const before = (await login(slow, 'alice')).access_token;
    expect((await admin(fast, adminToken, 'post', '/admin/incident/revoke-before', { reason: 'skew test' })).status).toBeLessThan(300);
    const after = (await login(slow, 'alice')).access_token;
    // The fast instance knows the global epoch at once (the slow one within globalStateRefreshMs).
    const refused = await me(fast, before);
    expect([refused.status, refused.body.code]).toEqual([401, 'token_revoked']);
    expect((await me(fast, after)).status).toBe(200);
    expect((await me(slow, after)).status).toBe(200);
  });

  describe('a risk step-up (challenge) made on one instance, passed or not on the other', () => {
    const HOME = { 'User-Agent': 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36', 'CF-IPCountry': 'FR' };
    // Contexts never used before (an allowed request teaches its context).
    const AWAY = { 'User-Agent': 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36', 'CF-IPCountry': 'BR' };
    const ELSEWHERE = { 'User-Agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0', 'CF-IPCountry': 'JP' };
    const loginFrom = async (demo: DemoHandle, username: string, context: Record<string, string>) => {
      const res = await request(demo.server).post('/auth/login').set(context).send({ username, password: `${username}-password` });
      expect(res.status).toBe(200);
      await demo.app.get(BackgroundWrites).settle(); // its context learned
      return res.body.access_token as string;
    };
    /** `/me` from `context`; the challenge it may record is written in the background: wait for it. */
    const meFrom = async (demo: DemoHandle, token: string, context: Record<string, string>) => {
      const res = await me(demo, token).set(context);
      await demo.app.get(BackgroundWrites).settle();
      return [res.status, res.body.code] as const;
    };
    const STEP_UP = [401, 'insufficient_user_authentication'] as const;

    it('challenged on the fast instance: a re-authentication right after it on the slow one passes the step-up on both', async () => {
      const old = await loginFrom(slow, 'alice', HOME);
      expect(await meFrom(fast, old, AWAY)).toEqual(STEP_UP);
      // A re-authentication that teaches no context (as an external provider's would; a login of the demo would also
      // learn its context, and one from elsewhere withdraws the pass): a token dated by the store's clock right after
      // the challenge. Dated by the fast instance's clock, the challenge would lie 2 s ahead of it: refused again.
      const fresh = (await slow.app.get(TokenService).issue('alice', { roles: ['user'] })).token;
      expect((await meFrom(fast, fresh, AWAY))[0]).toBe(200);
      expect((await meFrom(slow, fresh, AWAY))[0]).toBe(200);
    });

    it('challenged on the slow instance: a token authenticated just before the challenge never passes it', async () => {
      // admin: a user with no challenge yet (alice passed hers above, and a pass counts for every later login).
      const before = await loginFrom(fast, 'admin', HOME);
      expect(await meFrom(slow, before, ELSEWHERE)).toEqual(STEP_UP);
      // Dated by the slow instance's clock, the challenge would lie 2 s before this token's login: it would pass.
      expect(await meFrom(slow, before, ELSEWHERE)).toEqual(STEP_UP);
      expect(await meFrom(fast, before, ELSEWHERE)).toEqual(STEP_UP);
    });
  });
});

import { DefenseClock } from '@jwt-defense/core';
import { startDemo, writeEs256KeyFiles, type DemoHandle } from '../support/demo-app.js';
import { admin, login, me } from '../support/demo-client.js';
import { RedisServer } from '../support/redis-server.js';

// Clock skew between instances, within the clock tolerance (30 s), must not flip decisions: revocation epochs and
// the login times they are compared with come from one clock (Redis TIME), not from each instance's own.

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
    const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'skew:', THROTTLE_LIMIT: '100000', LOGIN_LIMIT: '100000' };
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
});

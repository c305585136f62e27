import request from 'supertest';
import { startDemo, writeEs256KeyFiles, type DemoHandle } from '../support/demo-app.js';
import { admin, jtiOf, me } from '../support/demo-client.js';
import { RedisServer } from '../support/redis-server.js';

// Three instances of the demo on one Redis: what one revokes, the others enforce on the next request; under
// concurrency spread over the three, each limit (per IP, per user, per username) lets exactly its limit through.

const THROTTLE_LIMIT = 20;
const LOGIN_LIMIT = 5;
let ip = 0;
/** A fresh client address (the demo trusts X-Forwarded-For from loopback here), so only the limit under test binds. */
const nextIp = () => `10.7.${Math.floor(++ip / 250)}.${(ip % 250) + 1}`;

async function loginVia(demo: DemoHandle, username: string): Promise<string> {
  const res = await request(demo.server).post('/auth/login').set('X-Forwarded-For', nextIp()).send({ username, password: `${username}-password` });
  if (res.status !== 200) throw new Error(`login ${username}: ${res.status}`);
  return res.body.access_token as string;
}

function useThreeInstances(prefix: string): DemoHandle[] {
  const instances: DemoHandle[] = [];
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await RedisServer.start();
    const keys = writeEs256KeyFiles();
    const env = { REDIS_URL: redis.url, REDIS_KEY_PREFIX: prefix, THROTTLE_LIMIT: String(THROTTLE_LIMIT), LOGIN_LIMIT: String(LOGIN_LIMIT), TRUST_PROXY: '127.0.0.1/32' };
    instances.push(...(await Promise.all([0, 1, 2].map(() => startDemo('express', env, keys)))));
  }, 60_000);
  afterAll(async () => {
    await Promise.all(instances.map((instance) => instance.close()));
    await redis?.destroy();
  });
  return instances;
}

describe('three instances on one Redis: revocations', () => {
  const instances = useThreeInstances('three-rev:');

  it('a jti revoked through one instance is refused by the other two on their next request', async () => {
    const [a, b, c] = instances;
    const adminToken = await loginVia(a, 'admin');
    const token = await loginVia(a, 'alice');
    for (const instance of instances) expect((await me(instance, token).set('X-Forwarded-For', nextIp())).status).toBe(200);
    const jti = jtiOf(token);
    expect((await admin(a, adminToken, 'post', `/admin/tokens/${jti}/revoke`, { reason: 'three instances' }).set('X-Forwarded-For', nextIp())).status).toBeLessThan(300);
    for (const instance of [b, c]) {
      const res = await me(instance, token).set('X-Forwarded-For', nextIp());
      expect([res.status, res.body.code]).toEqual([401, 'token_revoked']);
    }
  });

  it('a revoke-all through one instance is enforced by the other two on their next request; a new login works on all', async () => {
    const [a, b, c] = instances;
    const adminToken = await loginVia(b, 'admin');
    const older = await loginVia(a, 'alice');
    expect((await admin(b, adminToken, 'post', '/admin/users/alice/revoke-all', { reason: 'three instances' }).set('X-Forwarded-For', nextIp())).status).toBeLessThan(300);
    for (const instance of [a, c]) {
      const res = await me(instance, older).set('X-Forwarded-For', nextIp());
      expect([res.status, res.body.code]).toEqual([401, 'token_revoked']);
    }
    const fresh = await loginVia(c, 'alice');
    for (const instance of instances) expect((await me(instance, fresh).set('X-Forwarded-For', nextIp())).status).toBe(200);
  });
});

describe('three instances on one Redis: limits under concurrency', () => {
  const instances = useThreeInstances('three-lim:');
  /** `count` requests at once, spread round-robin over the three instances; their statuses. */
  const spread = (count: number, send: (demo: DemoHandle, index: number) => request.Test) =>
    Promise.all(Array.from({ length: count }, (_, index) => send(instances[index % 3], index).then((res) => res.status)));
  const tally = (statuses: number[]) => statuses.reduce<Record<number, number>>((counts, status) => ({ ...counts, [status]: (counts[status] ?? 0) + 1 }), {});

  it('per IP: exactly THROTTLE_LIMIT requests of one address pass across the three', async () => {
    const address = nextIp();
    const statuses = await spread(3 * THROTTLE_LIMIT, (demo) => request(demo.server).get('/.well-known/jwks.json').set('X-Forwarded-For', address));
    expect(tally(statuses)).toEqual({ 200: THROTTLE_LIMIT, 429: 2 * THROTTLE_LIMIT });
  });

  it('per user: exactly THROTTLE_LIMIT requests of one user pass across the three (each from its own address)', async () => {
    const token = await loginVia(instances[0], 'alice');
    const statuses = await spread(3 * THROTTLE_LIMIT, (demo) => me(demo, token).set('X-Forwarded-For', nextIp()));
    expect(tally(statuses)).toEqual({ 200: THROTTLE_LIMIT, 429: 2 * THROTTLE_LIMIT });
  });

  it('per username: exactly LOGIN_LIMIT password checks for one username across the three (each from its own address)', async () => {
    const statuses = await spread(6 * LOGIN_LIMIT, (demo) =>
      request(demo.server).post('/auth/login').set('X-Forwarded-For', nextIp()).send({ username: 'mallory', password: 'wrong' }),
    );
    expect(tally(statuses)).toEqual({ 401: LOGIN_LIMIT, 429: 5 * LOGIN_LIMIT });
  });
});

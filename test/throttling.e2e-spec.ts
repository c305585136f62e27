import request from 'supertest';
import { SecurityEventService, type SecurityEvent } from '@jwt-defense/core';
import { ADAPTERS, startDemo, writeEs256KeyFiles, type DemoHandle } from './support/demo-app.js';
import { login, me } from './support/demo-client.js';
import { useRedisTopologies } from './support/redis-topologies.js';

const redis = useRedisTopologies();
let suite = 0;
const TRUSTED = { TRUST_PROXY: '127.0.0.1/32,::1/128,::ffff:127.0.0.1/128' };

describe.each(ADAPTERS)('rate limiting over %s', (adapter) => {
  describe('behind a trusted proxy', () => {
    let demo: DemoHandle;
    const events: SecurityEvent[] = [];
    beforeAll(async () => {
      demo = await startDemo(adapter, { ...TRUSTED, THROTTLE_LIMIT: '6', LOGIN_LIMIT: '1000', REDIS_URL: redis.standalone.url, REDIS_KEY_PREFIX: `thr${suite++}:` });
      demo.app.get(SecurityEventService).events$.subscribe((event) => events.push(event));
    });
    afterAll(() => demo.close());

    it('a forged left-most X-Forwarded-For entry does not help', async () => {
      const statuses: number[] = [];
      for (let i = 0; i < 8; i++) {
        const res = await request(demo.server).get('/health').set('X-Forwarded-For', `10.9.${i}.1, 198.51.100.20`);
        statuses.push(res.status);
      }
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429, 429]);
    });

    it('the per-user limit holds across IPs, with a 429 rate_limited, Retry-After, headers and one sampled event', async () => {
      const { access_token: token } = await request(demo.server).post('/auth/login').set('X-Forwarded-For', '192.0.2.200').send({ username: 'alice', password: 'alice-password' }).then((res) => res.body);
      const statuses: number[] = [];
      let last: request.Response | undefined;
      for (let i = 0; i < 9; i++) {
        last = await request(demo.server).get('/me').set('X-Forwarded-For', `203.0.113.${i + 1}`).set('Authorization', `Bearer ${token}`);
        statuses.push(last.status);
      }
      expect(statuses).toEqual([200, 200, 200, 200, 200, 200, 429, 429, 429]);
      expect(last!.body.code).toBe('rate_limited');
      expect(Number(last!.headers['retry-after'])).toBeGreaterThan(0);
      expect(last!.headers['x-content-type-options']).toBe('nosniff');
      const limited = events.filter((event) => event.type === 'rate_limited' && event.sub === 'alice');
      expect(limited).toHaveLength(1);
      expect(limited[0]).toMatchObject({ ip: '203.0.113.7', details: { layer: 'user' } });
    });

    it('the login limit holds per username across IPs', async () => {
      const strict = await startDemo(adapter, { ...TRUSTED, LOGIN_LIMIT: '2', REDIS_URL: redis.standalone.url, REDIS_KEY_PREFIX: `thr${suite++}:` });
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        const res = await request(strict.server).post('/auth/login').set('X-Forwarded-For', `198.51.100.${i + 1}`).send({ username: 'Admin', password: 'x' });
        statuses.push(res.status);
      }
      await strict.close();
      expect(statuses).toEqual([401, 401, 429, 429]);
    });
  });
});

describe('two instances sharing Redis', () => {
  it('never let more than the limit through, whatever the concurrency', async () => {
    const keys = writeEs256KeyFiles();
    const env = { THROTTLE_LIMIT: '20', REDIS_URL: redis.standalone.url, REDIS_KEY_PREFIX: `thr${suite++}:` };
    const a = await startDemo('express', env, keys);
    const b = await startDemo('fastify', env, keys);
    try {
      const results = await Promise.all(
        Array.from({ length: 120 }, (_, i) => request((i % 2 ? a : b).server).get('/health').then((res) => res.status)),
      );
      expect(results.filter((status) => status === 200)).toHaveLength(20);
      expect(results.filter((status) => status === 429)).toHaveLength(100);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('on Redis Cluster too, for an authenticated user across both instances', async () => {
    const keys = writeEs256KeyFiles();
    const env = {
      THROTTLE_LIMIT: '15',
      ...TRUSTED,
      REDIS_URL: redis.cluster.clusterNodes.map((node) => `redis://${node.host}:${node.port}`).join(','),
      REDIS_KEY_PREFIX: `thr${suite++}:`,
    };
    const a = await startDemo('express', env, keys);
    const b = await startDemo('fastify', env, keys);
    try {
      const { access_token: token } = await login(a, 'alice');
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          request((i % 2 ? a : b).server).get('/me').set('X-Forwarded-For', `198.51.100.${i + 1}`).set('Authorization', `Bearer ${token}`).then((res) => res.status),
        ),
      );
      expect(results.filter((status) => status === 200)).toHaveLength(15);
      expect((await me(a, token)).status).toBe(429);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});

import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { RedisThrottlerStorage } from '@jwt-defense/core/redis';
import { ADAPTERS } from './support/demo-app.js';
import { useRedisTopologies } from './support/redis-topologies.js';
import { NestLabCasesModule } from './fixtures/nest-lab-cases.app.js';

const redis = useRedisTopologies();

describe.each(['standalone', 'cluster'] as const)('RedisThrottlerStorage with the stock ThrottlerGuard on Redis %s', (topology) => {
  describe.each(ADAPTERS)('over %s', (adapter) => {
    let app: INestApplication;
    let storage: RedisThrottlerStorage;
    beforeAll(async () => {
      const connection = topology === 'standalone' ? redis.standalone.url : { clusterNodes: redis.cluster.clusterNodes };
      storage = new RedisThrottlerStorage({ connection, keyPrefix: `lab${randomBytes(3).toString('hex')}:` });
      await storage.waitUntilReady(10_000);
      const module = NestLabCasesModule.register(storage);
      app =
        adapter === 'fastify'
          ? await NestFactory.create<NestFastifyApplication>(module, new FastifyAdapter(), { logger: false })
          : await NestFactory.create(module, new ExpressAdapter(), { logger: false });
      await app.init();
      if (adapter === 'fastify') await (app as NestFastifyApplication).getHttpAdapter().getInstance().ready();
    });
    afterAll(async () => {
      await app.close();
      await storage.close();
    });
    const get = (path: string) => request(app.getHttpServer()).get(path);

    it('GET /ignored: skipped, no rate-limit headers', async () => {
      const res = await get('/ignored');
      expect(res.body).toEqual({ ignored: true });
      expect(res.headers['x-ratelimit-limit']).toBeUndefined();
    });

    it('GET /ignore-user-agents: an ignored user agent gets no rate-limit headers', async () => {
      const res = await get('/ignore-user-agents').set('user-agent', 'throttler-test/0.0.0');
      expect(res.body).toEqual({ ignored: true });
      expect(res.headers['x-ratelimit-limit']).toBeUndefined();
    });

    it('GET /: method-level @Throttle', async () => {
      const res = await get('/');
      expect(res.body).toEqual({ success: true });
      expect(res.headers).toMatchObject({ 'x-ratelimit-limit': '2', 'x-ratelimit-remaining': '1', 'x-ratelimit-reset': '10' });
    });

    it.each([
      ['/limit', 2],
      ['/limit/higher', 5],
    ])('GET %s: class-level limit and its method-level override (%i), then 429 with Retry-After', async (path, limit) => {
      for (let i = 0; i < limit; i++) {
        const res = await get(path);
        expect(res.body).toEqual({ success: true });
        expect(res.headers).toMatchObject({
          'x-ratelimit-limit': String(limit),
          'x-ratelimit-remaining': String(limit - (i + 1)),
          'x-ratelimit-reset': '10',
        });
      }
      const blocked = await get(path);
      expect(blocked.status).toBe(429);
      expect(blocked.headers['retry-after']).toBe('10');
    });

    it('GET /limit/flooded: out of 200 requests only the limit gets through', async () => {
      const limit = 3;
      for (let i = 0; i < 200; i++) {
        const res = await get('/limit/flooded');
        if (i < limit) {
          expect(res.status).toBe(200);
          expect(Number(res.headers['x-ratelimit-reset'])).toBeLessThanOrEqual(10);
          expect(res.headers['x-ratelimit-remaining']).toBe(String(limit - (i + 1)));
        } else {
          expect(res.status).toBe(429);
          expect(Number(res.headers['retry-after'])).toBeLessThanOrEqual(10);
        }
      }
    });

    it('GET /default: the forRoot limit', async () => {
      const res = await get('/default');
      expect(res.body).toEqual({ success: true });
      expect(res.headers).toMatchObject({ 'x-ratelimit-limit': '5', 'x-ratelimit-remaining': '4', 'x-ratelimit-reset': '60' });
    });
  });
});

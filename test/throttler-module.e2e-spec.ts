import { randomBytes } from 'node:crypto';
import { Controller, Get, Module, type DynamicModule, type INestApplication } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { ThrottlerGuard, ThrottlerModule, ThrottlerStorageService, type ThrottlerStorage } from '@nestjs/throttler';
import request from 'supertest';
import { MemoryThrottlerStorage, type RateLimitAlgorithm } from '@jwt-defense/core';
import { RedisThrottlerStorage } from '@jwt-defense/core/redis';
import { RedisServer } from './support/redis-server.js';

// Our storages as what an app that keeps its own ThrottlerModule plugs in: the stock ThrottlerGuard, no
// jwt-defense module. Redis is real (a throwaway redis-server); the reference is @nestjs/throttler's own storage.

@Controller()
class PingController {
  @Get('ping')
  ping() {
    return { ok: true };
  }
}

@Module({})
class PlainThrottlerApp {
  static register(storage: ThrottlerStorage, throttler: { limit: number; ttl: number; blockDuration?: number }): DynamicModule {
    return {
      module: PlainThrottlerApp,
      imports: [ThrottlerModule.forRoot({ throttlers: [throttler], storage })],
      controllers: [PingController],
      providers: [{ provide: APP_GUARD, useClass: ThrottlerGuard }],
    };
  }
}

async function startApp(storage: ThrottlerStorage, throttler: { limit: number; ttl: number; blockDuration?: number }): Promise<INestApplication> {
  const app = await NestFactory.create(PlainThrottlerApp.register(storage, throttler), new ExpressAdapter(), { logger: false });
  await app.init();
  return app;
}

const statuses = async (app: INestApplication, count: number) =>
  (await Promise.all(Array.from({ length: count }, () => request(app.getHttpServer()).get('/ping')))).map((answer) => answer.status).sort();

const prefix = () => `tm${randomBytes(4).toString('hex')}:`;

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis.destroy();
});

describe('RedisThrottlerStorage used right after its construction from a URL', () => {
  it('its first hit, sent before the connection is ready, waits for it and is counted', async () => {
    const storage = new RedisThrottlerStorage({ connection: redis.url, keyPrefix: prefix() });
    try {
      expect(storage.client.status).not.toBe('ready');
      await expect(storage.increment('first', 60_000, 2, 60_000, 'default')).resolves.toMatchObject({ totalHits: 1, isBlocked: false });
    } finally {
      await storage.close();
    }
  });

  it('in a plain ThrottlerModule app whose Redis comes up after the first requests: no 500, exactly `limit` through', async () => {
    await redis.stop();
    // Built from a URL while Redis is down: the first requests wait for the connection (up to commandTimeoutMs).
    const storage = new RedisThrottlerStorage({ connection: redis.url, keyPrefix: prefix(), commandTimeoutMs: 5000 });
    let down = true;
    const app = await startApp(storage, { limit: 3, ttl: 60_000 });
    try {
      const answers = statuses(app, 6);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await redis.resume();
      down = false;
      expect(await answers).toEqual([200, 200, 200, 429, 429, 429]);
    } finally {
      await app.close();
      await storage.close();
      if (down) await redis.resume();
    }
  });
});

type Storage = ThrottlerStorage & { close?: () => Promise<void> };
const STORAGES: Array<[string, (algorithm?: RateLimitAlgorithm) => Storage]> = [
  ['memory', (algorithm) => new MemoryThrottlerStorage({ algorithm })],
  ['redis', (algorithm) => new RedisThrottlerStorage({ connection: redis.url, keyPrefix: prefix(), algorithm })],
];

describe.each(STORAGES)('blockDuration: 0 on the %s storage, as @nestjs/throttler 6.7 documents it', (_name, create) => {
  let storage: Storage;
  afterEach(async () => {
    jest.useRealTimers();
    await storage?.close?.();
  });

  it('through the stock ThrottlerGuard: exactly `limit` of a burst pass, never one more', async () => {
    storage = create();
    const app = await startApp(storage, { limit: 3, ttl: 60_000, blockDuration: 0 });
    try {
      // The old behaviour let `limit` through out of every `limit + 1`: 6 of 8 here.
      expect(await statuses(app, 8)).toEqual([200, 200, 200, 429, 429, 429, 429, 429]);
      const refused = await request(app.getHttpServer()).get('/ping');
      expect(refused.status).toBe(429);
      expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(Number(refused.headers['retry-after'])).toBeLessThanOrEqual(60);
    } finally {
      await app.close();
    }
  });

  it("answers hit for hit like @nestjs/throttler's own storage when the hits open the window", async () => {
    const T0 = 1_800_000_000_000;
    // Only Date is faked: ioredis keeps its real timers.
    jest.useFakeTimers({ now: T0, doNotFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate', 'nextTick', 'queueMicrotask', 'hrtime', 'performance'] });
    storage = create();
    const stock = new ThrottlerStorageService();
    const key = `k${randomBytes(3).toString('hex')}`;
    const both = async () => {
      const [ours, theirs] = [await storage.increment(key, 1000, 3, 0, 'default'), await stock.increment(key, 1000, 3, 0, 'default')];
      return { ours: { isBlocked: ours.isBlocked, timeToBlockExpire: ours.timeToBlockExpire }, theirs: { isBlocked: theirs.isBlocked, timeToBlockExpire: theirs.timeToBlockExpire } };
    };
    try {
      const seen = [];
      for (let i = 0; i < 5; i++) seen.push(await both());
      jest.setSystemTime(T0 + 500);
      seen.push(await both());
      // The window's hits have expired: let through again, `limit` of them, and no more.
      jest.setSystemTime(T0 + 1001);
      for (let i = 0; i < 4; i++) seen.push(await both());
      for (const { ours, theirs } of seen) expect(ours).toEqual(theirs);
      expect(seen.map(({ ours }) => ours.isBlocked)).toEqual([false, false, false, true, true, true, false, false, false, true]);
      // A refusal says when to come back: when the window's oldest hit expires (1 s here, rounded up).
      expect(seen[3].ours.timeToBlockExpire).toBe(1);
    } finally {
      stock.onApplicationShutdown();
    }
  });

  it('the documented difference: hits spread over the window free the whole budget at its end (fixed window), not one by one', async () => {
    const T0 = 1_800_000_000_000;
    jest.useFakeTimers({ now: T0, doNotFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate', 'nextTick', 'queueMicrotask', 'hrtime', 'performance'] });
    storage = create('fixed');
    const stock = new ThrottlerStorageService();
    const key = `s${randomBytes(3).toString('hex')}`;
    try {
      for (const at of [0, 400, 800]) {
        jest.setSystemTime(T0 + at);
        expect((await storage.increment(key, 1000, 3, 0, 'default')).isBlocked).toBe(false);
        expect((await stock.increment(key, 1000, 3, 0, 'default')).isBlocked).toBe(false);
      }
      jest.setSystemTime(T0 + 1001);
      const ours = [];
      const theirs = [];
      for (let i = 0; i < 3; i++) {
        ours.push((await storage.increment(key, 1000, 3, 0, 'default')).isBlocked);
        theirs.push((await stock.increment(key, 1000, 3, 0, 'default')).isBlocked);
      }
      // The stock sliding log frees one slot (the hit of T0); our fixed window starts afresh (docs/THROTTLING.md).
      expect(theirs).toEqual([false, true, true]);
      expect(ours).toEqual([false, false, false]);
    } finally {
      stock.onApplicationShutdown();
    }
  });
});

import { randomBytes } from 'node:crypto';
import { MemoryThrottlerStorage, type RateLimitAlgorithm } from '@jwt-defense/core';
import { RedisThrottlerStorage } from '@jwt-defense/core/redis';
import type { ThrottlerStorage } from '@nestjs/throttler';
import { useRedisTopologies } from './support/redis-topologies.js';

const redis = useRedisTopologies();

type Clock = { now: number };
type Factory = (clock: Clock, algorithm: RateLimitAlgorithm) => Promise<ThrottlerStorage & { close?: () => Promise<void> }>;
const prefix = () => `thr${randomBytes(4).toString('hex')}:`;

const FACTORIES: Array<[string, Factory]> = [
  ['memory', async (clock, algorithm) => new MemoryThrottlerStorage({ algorithm, now: () => clock.now })],
  [
    'redis standalone',
    async (clock, algorithm) => {
      const storage = new RedisThrottlerStorage({ connection: redis.standalone.url, keyPrefix: prefix(), algorithm, now: () => clock.now });
      await storage.waitUntilReady();
      return storage;
    },
  ],
  [
    'redis cluster',
    async (clock, algorithm) => {
      const storage = new RedisThrottlerStorage({ connection: { clusterNodes: redis.cluster.clusterNodes }, keyPrefix: prefix(), algorithm, now: () => clock.now });
      await storage.waitUntilReady(10_000);
      return storage;
    },
  ],
];

const T0 = 1_800_000_000_000; // a window boundary for 1 s and 10 s windows

describe.each(FACTORIES)('ThrottlerStorage on %s', (_name, factory) => {
  let storage: ThrottlerStorage & { close?: () => Promise<void> };
  const clock: Clock = { now: T0 };
  afterEach(async () => {
    await storage.close?.();
  });

  describe.each<RateLimitAlgorithm>(['fixed', 'sliding'])('%s window', (algorithm) => {
    beforeEach(async () => {
      clock.now = T0;
      storage = await factory(clock, algorithm);
    });

    it('counts hits and answers in @nestjs/throttler units (ms in, whole seconds out)', async () => {
      await expect(storage.increment('k', 10_000, 3, 10_000, 'default')).resolves.toEqual({ totalHits: 1, timeToExpire: 10, isBlocked: false, timeToBlockExpire: 0 });
      clock.now += 2500;
      await expect(storage.increment('k', 10_000, 3, 10_000, 'default')).resolves.toMatchObject({ totalHits: 2, timeToExpire: 8, isBlocked: false });
    });

    it('blocks beyond the limit for blockDuration, without counting blocked hits, then starts afresh', async () => {
      for (let i = 0; i < 2; i++) await storage.increment('k', 1000, 2, 5000, 'default');
      await expect(storage.increment('k', 1000, 2, 5000, 'default')).resolves.toMatchObject({ isBlocked: true, timeToBlockExpire: 5 });
      clock.now += 3000;
      await expect(storage.increment('k', 1000, 2, 5000, 'default')).resolves.toMatchObject({ isBlocked: true, timeToBlockExpire: 2 });
      clock.now += 2000;
      await expect(storage.increment('k', 1000, 2, 5000, 'default')).resolves.toMatchObject({ totalHits: 1, isBlocked: false });
    });

    it('keeps keys and throttler names apart', async () => {
      await storage.increment('a', 1000, 1, 1000, 'default');
      await expect(storage.increment('a', 1000, 1, 1000, 'default')).resolves.toMatchObject({ isBlocked: true });
      await expect(storage.increment('b', 1000, 1, 1000, 'default')).resolves.toMatchObject({ isBlocked: false });
      await expect(storage.increment('a', 1000, 1, 1000, 'other')).resolves.toMatchObject({ isBlocked: false });
    });

    it('forgets a window once it is over', async () => {
      for (let i = 0; i < 3; i++) await storage.increment('k', 1000, 3, 1000, 'default');
      clock.now += 2000;
      await expect(storage.increment('k', 1000, 3, 1000, 'default')).resolves.toMatchObject({ totalHits: 1, isBlocked: false });
    });

    it('lets exactly `limit` through out of many concurrent hits', async () => {
      const results = await Promise.all(Array.from({ length: 60 }, () => storage.increment('burst', 10_000, 7, 10_000, 'default')));
      expect(results.filter((result) => !result.isBlocked)).toHaveLength(7);
    });
  });

  it('at a window boundary, fixed lets 2 × limit through in a moment; sliding does not', async () => {
    const burst = async (algorithm: RateLimitAlgorithm) => {
      storage = await factory(clock, algorithm);
      let passed = 0;
      // First hit opens the fixed window at T0 (sliding windows are aligned on multiples of ttl: T0 too).
      clock.now = T0;
      if (!(await storage.increment(`edge-${algorithm}`, 1000, 5, 1000, 'default')).isBlocked) passed++;
      clock.now = T0 + 990;
      for (let i = 0; i < 4; i++) if (!(await storage.increment(`edge-${algorithm}`, 1000, 5, 1000, 'default')).isBlocked) passed++;
      clock.now = T0 + 1001;
      for (let i = 0; i < 5; i++) if (!(await storage.increment(`edge-${algorithm}`, 1000, 5, 1000, 'default')).isBlocked) passed++;
      await storage.close?.();
      return passed;
    };
    // 10 requests within 11 ms: the fixed window lets all through, the sliding one holds the line.
    expect(await burst('fixed')).toBe(10);
    expect(await burst('sliding')).toBe(5);
    storage = await factory(clock, 'fixed');
  });
});

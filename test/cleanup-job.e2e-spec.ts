import { execFileSync } from 'node:child_process';
import { Test, type TestingModule } from '@nestjs/testing';
import { Redis } from 'ioredis';
import { JwtDefenseModule, SecurityEventService, type DefenseStore } from '@jwt-defense/core';
import { MemoryDefenseStore } from '@jwt-defense/core/store';
import { RevocationCleanupJob } from '../libs/jwt-defense/src/revocation/revocation-cleanup.job.js';
import { fixtureOptions } from './fixtures/fixture.app.js';
import { RedisServer } from './support/redis-server.js';

function calls(port: number, command: string): number {
  const info = execFileSync('redis-cli', ['-p', String(port), 'INFO', 'commandstats']).toString();
  return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
}

// Fake the clock and timers, but keep the I/O plumbing (ioredis needs nextTick/setImmediate) real.
const FAKE_TIMERS = { doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] as Array<'nextTick' | 'setImmediate' | 'queueMicrotask'> };

describe('scheduled cleanup job', () => {
  let redis: RedisServer;
  let moduleRef: TestingModule | undefined;
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(() => redis.destroy());
  afterEach(async () => {
    await moduleRef?.close();
    moduleRef = undefined;
    jest.useRealTimers();
  });

  it('runs on its cron schedule on Redis, repairs entries without TTL, and never issues KEYS', async () => {
    const prefix = 'cleanup:';
    const raw = new Redis(redis.url);
    await raw.set(`${prefix}{u:abc}:j:lost-ttl`, '1'); // an entry that lost its TTL
    await raw.set(`${prefix}{u:abc}:j:fine`, '1', 'PX', 60_000);
    await raw.set('other-app:{u:abc}:j:x', '1'); // not ours: untouched
    // The store's connection is made (and ready) before the clock is faked: its connect timeout must stay real.
    const connection = new Redis(redis.url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
    await new Promise((resolve) => connection.once('ready', resolve));

    jest.useFakeTimers({ ...FAKE_TIMERS, now: new Date('2026-11-24T10:00:00Z') });
    moduleRef = await Test.createTestingModule({
      imports: [
        JwtDefenseModule.forRoot(
          fixtureOptions({ store: { type: 'redis', connection, keyPrefix: prefix }, revocation: { cleanupCron: '0 */5 * * * *' } }),
        ),
      ],
    }).compile();
    await moduleRef.init();
    const job = moduleRef.get(RevocationCleanupJob);
    const scansBefore = calls(redis.port, 'scan');
    expect(job.lastReport).toBeUndefined();

    await jest.advanceTimersByTimeAsync(5 * 60_000);
    // The tick's SCAN, PTTL and DEL are real round trips: yield to I/O until it is done (bounded).
    for (let i = 0; i < 20_000 && !job.lastReport; i++) await new Promise((resolve) => setImmediate(resolve));

    expect(job.lastReport).toEqual({ scanned: 2, removed: 1, truncated: false });
    expect(await raw.exists(`${prefix}{u:abc}:j:lost-ttl`)).toBe(0);
    expect(await raw.exists(`${prefix}{u:abc}:j:fine`)).toBe(1);
    expect(await raw.exists('other-app:{u:abc}:j:x')).toBe(1);
    expect(calls(redis.port, 'scan')).toBeGreaterThan(scansBefore);
    expect(calls(redis.port, 'keys')).toBe(0);
    raw.disconnect();
    connection.disconnect();
  });

  it('removes expired entries from the memory store by timestamp', async () => {
    jest.useFakeTimers({ ...FAKE_TIMERS, now: new Date('2026-11-24T10:00:00Z') });
    const store = new MemoryDefenseStore();
    await store.revokeToken('t', { jti: 'a', reason: 'r', revokedAtMs: Date.now() }, 1000);
    await store.revokeToken('t', { jti: 'b', reason: 'r', revokedAtMs: Date.now() }, 10 * 60_000);
    moduleRef = await Test.createTestingModule({
      imports: [JwtDefenseModule.forRoot(fixtureOptions({ store: { type: 'custom', store }, revocation: { cleanupCron: '0 */5 * * * *' } }))],
    }).compile();
    await moduleRef.init();
    await jest.advanceTimersByTimeAsync(5 * 60_000);
    expect(moduleRef.get(RevocationCleanupJob).lastReport).toMatchObject({ removed: 1 });
    expect(store.sizes.revocations).toBe(1);
  });

  it('a failing tick is logged, counted and recorded, and the app lives on', async () => {
    jest.useFakeTimers({ ...FAKE_TIMERS, now: new Date('2026-11-24T10:00:00Z') });
    const failing: DefenseStore = Object.assign(new MemoryDefenseStore(), {
      cleanupExpired: async () => {
        throw new Error('disk on fire');
      },
    });
    moduleRef = await Test.createTestingModule({
      imports: [JwtDefenseModule.forRoot(fixtureOptions({ store: { type: 'custom', store: failing }, revocation: { cleanupCron: '0 */5 * * * *' } }))],
    }).compile();
    moduleRef.useLogger(false);
    await moduleRef.init();
    await jest.advanceTimersByTimeAsync(10 * 60_000);
    const job = moduleRef.get(RevocationCleanupJob);
    expect(job.failures).toBe(2);
    const events = await moduleRef.get(SecurityEventService).list({ type: 'cleanup_failed' });
    expect(events).toHaveLength(2);
  });
});

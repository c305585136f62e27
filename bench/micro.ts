// Microbenchmarks of the hot-path pieces, to show where the time of one request goes.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { Bench } from 'tinybench';
import { TokenService, type JwtKeyOptions } from '@jwt-defense/core';
import { MemoryDefenseStore } from '@jwt-defense/core/store';
import { DefenseClock } from '../libs/jwt-defense/src/common/defense-clock.js';
import { resolveJwtDefenseOptions } from '../libs/jwt-defense/src/jwt-defense.options.js';
import { RedisDefenseStore } from '@jwt-defense/core/redis';
import { prefilterCompactJws } from '../libs/jwt-defense/src/edge/compact-jws.js';
import { ANOMALY_PART } from '../libs/jwt-defense/src/monitoring/anomaly.check-part.js';
import { REVOCATION_PART } from '../libs/jwt-defense/src/revocation/revocation.check-part.js';
import { askPart, type DefenseCheckRequest } from '../libs/jwt-defense/src/store/check-part.js';
import type { AnomalyCount, UserRateLimitRequest } from '../libs/jwt-defense/src/store/defense-store.ports.js';
import { USER_RATE_PART } from '../libs/jwt-defense/src/throttling/user-rate.check-part.js';
import { userTag } from '../libs/jwt-defense/src/token/token-ids.js';

/** The one call of a bearer request with the per-user limit (and, optionally, the anomaly count): the parts' inputs. */
function checkRequest(tag: string, sub: string, jti: string, userRate: UserRateLimitRequest, anomaly?: AnomalyCount): DefenseCheckRequest {
  const request: DefenseCheckRequest = { tag, sub, parts: {} };
  askPart(request, REVOCATION_PART, { jti });
  askPart(request, USER_RATE_PART, userRate);
  if (anomaly) askPart(request, ANOMALY_PART, anomaly);
  return request;
}

export interface MicroResult {
  name: string;
  /** Mean time of one operation, µs. */
  meanUs: number;
  p99Us: number;
}

function tokenService(key: JwtKeyOptions, cacheSize: number): TokenService {
  return new TokenService(resolveJwtDefenseOptions({ token: { issuer: 'bench', audience: 'bench', keys: [key], verifiedTokenCacheSize: cacheSize } }).token, new DefenseClock());
}

export async function runMicro(redisUrl: string | undefined, timeMs: number): Promise<MicroResult[]> {
  const es: JwtKeyOptions = { kid: 'es', algorithms: ['ES256'], privateKey: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey };
  const hs: JwtKeyOptions = { kid: 'hs', algorithms: ['HS256'], secret: randomBytes(32) };
  const esCold = tokenService(es, 0);
  const esCached = tokenService(es, 10_000);
  const hsCold = tokenService(hs, 0);
  const esToken = (await esCold.issue('user-1', { roles: ['user'] })).token;
  const hsToken = (await hsCold.issue('user-1', { roles: ['user'] })).token;
  await esCached.verify(esToken);
  const prefilter = { maxTokenBytes: 8192, tokenType: 'at+jwt', allowedAlgorithms: new Set(['ES256']) };

  const memory = new MemoryDefenseStore();
  const redis = redisUrl ? new RedisDefenseStore({ connection: redisUrl, keyPrefix: 'micro:' }) : undefined;
  await redis?.ready(5000);
  const principal = await esCold.verify(esToken);
  const check = { tag: userTag(principal.sub), sub: principal.sub, jti: principal.jti };
  const userRate = { limit: 1e9, ttlMs: 60_000, blockDurationMs: 60_000, algorithm: 'fixed' as const };

  const bench = new Bench({ time: timeMs, warmupTime: Math.min(200, timeMs) });
  bench
    .add('pre-filter (parse + checks, no crypto)', () => {
      prefilterCompactJws(esToken, prefilter);
    })
    .add('verify HS256 (KeyObject, cache off)', async () => {
      await hsCold.verify(hsToken);
    })
    .add('verify ES256 (cache off)', async () => {
      await esCold.verify(esToken);
    })
    .add('verify ES256 (verified-token cache hit)', async () => {
      await esCached.verify(esToken);
    })
    .add('defence check, memory store (+ user rate)', async () => {
      await memory.check(checkRequest(check.tag, check.sub, check.jti ?? '', { ...userRate, nowMs: Date.now() }));
    });
  if (redis) {
    bench.add('defence check, Redis round trip (+ user rate)', async () => {
      await redis.check(checkRequest(check.tag, check.sub, check.jti ?? '', { ...userRate, nowMs: Date.now() }));
    });
  }
  await bench.run();
  await redis?.close();
  return bench.tasks.map((task) => {
    const result = task.result as unknown as { latency: { mean: number; p99: number } };
    return { name: task.name, meanUs: result.latency.mean * 1000, p99Us: result.latency.p99 * 1000 };
  });
}

/** Heap bytes per tracked user in the memory store (user epoch + rate counter), measured with --expose-gc. */
export async function memoryPerUser(users: number): Promise<number | undefined> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) return undefined;
  const store = new MemoryDefenseStore({ maxUserEpochs: users, maxCounters: users });
  gc();
  const before = process.memoryUsage().heapUsed;
  const nowMs = Date.now();
  for (let i = 0; i < users; i++) {
    const sub = `user-${i}`;
    const tag = userTag(sub);
    await store.check(
      checkRequest(tag, sub, 'j', { limit: 100, ttlMs: 60_000, blockDurationMs: 60_000, algorithm: 'sliding', nowMs }, {
        route: 'route-a', intervalMs: 3_600_000, alpha: 0.3, warmupIntervals: 24, factor: 3, minRequests: 20, maxRoutes: 50, idleTtlMs: 86_400_000, maxGrowth: 1.25, nowMs,
      }),
    );
    await store.raiseUserNotBefore(tag, sub, nowMs, 60_000);
    await store.learnContext(tag, sub, { country: 'FR', device: 'ua:abcdefghijklmnop', hourOfWeek: 10, nowMs, countHour: true, maxDevices: 20, maxCountries: 20, halfLifeMs: 30 * 86_400_000, ttlMs: 86_400_000 });
  }
  gc();
  const perUser = (process.memoryUsage().heapUsed - before) / users;
  await store.close();
  return perUser;
}

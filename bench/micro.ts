// Microbenchmarks of the hot-path pieces, to show where the time of one request goes; run directly
// (`nest build bench && node dist/bench/bench/micro.js`), the signature backends compared per algorithm.
import { createSecretKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { JwtService } from '@nestjs/jwt';
import { CompactSign, compactVerify, importJWK, type JWK } from 'jose';
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
import { verifyJwsSignature } from '../libs/jwt-defense/src/token/access-token-verification.js';
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
  const rs: JwtKeyOptions = { kid: 'rs', algorithms: ['RS256'], privateKey: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey };
  const ed: JwtKeyOptions = { kid: 'ed', algorithms: ['EdDSA'], privateKey: generateKeyPairSync('ed25519').privateKey };
  const esCold = tokenService(es, 0);
  const esCached = tokenService(es, 10_000);
  const hsCold = tokenService(hs, 0);
  const rsCold = tokenService(rs, 0);
  const edCold = tokenService(ed, 0);
  const esToken = (await esCold.issue('user-1', { roles: ['user'] })).token;
  const hsToken = (await hsCold.issue('user-1', { roles: ['user'] })).token;
  const rsToken = (await rsCold.issue('user-1', { roles: ['user'] })).token;
  const edToken = (await edCold.issue('user-1', { roles: ['user'] })).token;
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
    .add('verify RS256 (cache off)', async () => {
      await rsCold.verify(rsToken);
    })
    .add('verify EdDSA (cache off)', async () => {
      await edCold.verify(edToken);
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

/** One algorithm's median over the rounds (p50 of each round, µs) for each signature backend. */
export interface BackendResult {
  alg: string;
  /** What verifies now: node:crypto `verify`/HMAC with the imported KeyObject (`verifyJwsSignature`). */
  nodeCryptoUs: number;
  /** jsonwebtoken 9 through @nestjs/jwt's `JwtService.verify`, with the same KeyObject (absent: no EdDSA there). */
  jsonwebtokenUs?: number;
  /** jose's `compactVerify` with an imported CryptoKey (what external issuers used). */
  joseUs: number;
}

/**
 * The signature check alone, per algorithm and backend, interleaved in each round so that a neighbour's load lands
 * on all of them: the measurement behind the choice of node:crypto as the one signature backend.
 */
export async function runSignatureBackends(timeMs = 500, rounds = 5): Promise<BackendResult[]> {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const secret = createSecretKey(randomBytes(32));
  const keys: Array<[string, KeyObject, KeyObject]> = [
    ['HS256', secret, secret],
    ['RS256', rsa.privateKey, rsa.publicKey],
    ['PS256', rsa.privateKey, rsa.publicKey],
    ...(['ES256', 'ES384', 'ES512'] as const).map((alg, i): [string, KeyObject, KeyObject] => {
      const pair = generateKeyPairSync('ec', { namedCurve: ['P-256', 'P-384', 'P-521'][i] });
      return [alg, pair.privateKey, pair.publicKey];
    }),
    ((): [string, KeyObject, KeyObject] => {
      const pair = generateKeyPairSync('ed25519');
      return ['EdDSA', pair.privateKey, pair.publicKey];
    })(),
  ];
  const payload = Buffer.from(JSON.stringify({ iss: 'bench', aud: 'bench', sub: 'user-1', iat: 1e9, exp: 1e9 + 300, jti: 'j'.repeat(40), roles: ['user'] }));
  const cases = await Promise.all(
    keys.map(async ([alg, privateKey, publicKey]) => {
      const token = await new CompactSign(payload).setProtectedHeader({ alg, typ: 'at+jwt', kid: 'k' }).sign(privateKey);
      const [header, body, signature] = token.split('.');
      const jwk = publicKey.type === 'secret' ? { kty: 'oct', k: publicKey.export().toString('base64url') } : (publicKey.export({ format: 'jwk' }) as JWK);
      const cryptoKey = await importJWK(jwk, alg);
      const jwt = alg === 'EdDSA' ? undefined : new JwtService({ ...(publicKey.type === 'secret' ? { secret: publicKey } : { publicKey }), verifyOptions: { algorithms: [alg as never], ignoreExpiration: true } });
      return { alg, token, input: `${header}.${body}`, signature: Buffer.from(signature, 'base64url'), publicKey, cryptoKey, jwt };
    }),
  );
  const samples = new Map<string, number[]>();
  for (let round = 0; round < rounds; round++) {
    const bench = new Bench({ time: timeMs, warmupTime: Math.min(100, timeMs) });
    for (const c of cases) {
      bench.add(`${c.alg} node:crypto`, () => {
        if (!verifyJwsSignature(c.alg, c.publicKey, c.input, c.signature)) throw new Error(`${c.alg}: not verified`);
      });
      if (c.jwt) bench.add(`${c.alg} jsonwebtoken`, () => void c.jwt!.verify(c.token));
      bench.add(`${c.alg} jose`, async () => void (await compactVerify(c.token, c.cryptoKey, { algorithms: [c.alg] })));
    }
    await bench.run();
    for (const task of bench.tasks) {
      const result = task.result as unknown as { latency: { p50: number } };
      samples.set(task.name, [...(samples.get(task.name) ?? []), result.latency.p50 * 1000]);
    }
  }
  const median = (name: string) => {
    const values = samples.get(name);
    return values ? [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] : undefined;
  };
  return cases.map(({ alg }) => ({ alg, nodeCryptoUs: median(`${alg} node:crypto`)!, jsonwebtokenUs: median(`${alg} jsonwebtoken`), joseUs: median(`${alg} jose`)! }));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const results = await runSignatureBackends();
  const cell = (us?: number) => (us === undefined ? 'n/a' : us.toFixed(1));
  process.stdout.write('| algorithm | node:crypto µs | jsonwebtoken µs | jose µs |\n|---|---|---|---|\n');
  for (const r of results) process.stdout.write(`| ${r.alg} | ${cell(r.nodeCryptoUs)} | ${cell(r.jsonwebtokenUs)} | ${cell(r.joseUs)} |\n`);
}

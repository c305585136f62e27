// The soak: the built demo in its own process on a real redis-server, with a real OpenID provider as its external
// issuer, under several minutes of mixed traffic (soak/traffic.ts). Memory and Redis are sampled as it runs.
import { createPublicKey, generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { TokenService } from '@jwt-defense/core';
import { DefenseClock } from '../libs/jwt-defense/src/common/defense-clock.js';
import { resolveJwtDefenseOptions } from '../libs/jwt-defense/src/jwt-defense.options.js';
import { loadDemoConfig } from '../apps/demo/src/demo.config.js';
import { loadDemoKeys } from '../apps/demo/src/demo.keys.js';
import { startDemoProcess, type DemoProcess } from '../test/support/demo-process.js';
import { signJws } from '../test/support/jws.js';
import { createDpopProof, OidcProvider } from '../test/support/oidc-provider.js';
import { RedisServer } from '../test/support/redis-server.js';
import { runTraffic, type ClassResult, type TrafficClass, type UnexpectedSample } from './traffic.js';

/** How the soak runs. */
export interface SoakOptions {
  /** Length of the traffic, in seconds (at most 840: tokens are minted once, with the 15-minute maximum lifetime). */
  durationSec: number;
  /** The built demo's entry point (`dist/soak/apps/demo/src/main.js`), run with `node`. */
  demoMain: string;
  /** Where the demo's log goes (stdout and stderr). */
  demoLogFile: string;
  /** Scales every class's rate (1: about 325 req/s in all). */
  rateFactor?: number;
  /** Seconds between samples of the demo's RSS and Redis's memory and keys. Default 10. */
  sampleEverySec?: number;
}

/** One sample taken while the traffic runs. */
export interface SoakSample {
  atSec: number;
  demoRssMb: number;
  redisUsedMemoryBytes: number;
  redisKeys: number;
}

/** The keys of the store at the end, by kind, each against the bound that follows from the run's users and TTLs. */
export interface KeyKind {
  kind: string;
  count: number;
  bound: number;
  why: string;
}

/** The soak's report (soak-report.json; SOAK.md renders it). */
export interface SoakReport {
  startedAt: string;
  durationSec: number;
  machine: { cpu: string; cores: number; node: string; redis: string };
  /** The demo's environment (no secret in it: key files are paths). */
  demoEnv: Record<string, string>;
  classes: ClassResult[];
  totals: { requests: number; reqPerSec: number; unexpectedErrors: number };
  unexpectedSamples: UnexpectedSample[];
  demo: { rssStartMb: number; rssEndMb: number; rssMaxMb: number; errorLogLines: number };
  redis: {
    usedMemoryStartBytes: number;
    usedMemoryEndBytes: number;
    keysStart: number;
    keysEnd: number;
    keysBound: number;
    keysByKind: KeyKind[];
  };
  samples: SoakSample[];
}

const AUDIENCE = 'https://api.soak.test';
const KEY_PREFIX = 'jwtd:';
const ADMIN_IP = '10.0.0.1';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An address in 10.<net>.0.0/16, cycling over `count` of them. */
function addresses(net: number, count: number): () => string {
  let next = 0;
  return () => {
    const n = next++ % count;
    return `10.${net}.${n >> 8}.${(n & 255) + 1}`;
  };
}

/** Round robin over a pool. */
function cycle<T>(items: readonly T[]): () => T {
  let next = 0;
  return () => items[next++ % items.length];
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Math.round((Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024) * 10) / 10;
}

async function redisFigures(redis: RedisServer): Promise<{ usedMemoryBytes: number; keys: number }> {
  const info = (await redis.call('INFO', 'memory')) as string;
  return { usedMemoryBytes: Number(/used_memory:(\d+)/.exec(info)?.[1]), keys: Number(await redis.call('DBSIZE')) };
}

/** Every key by kind: `{u:…}:<kind>:` per user, `{t:<space>:…}` rate counters, `{g}`/`{e}` global ones. */
async function keysByKind(redis: RedisServer): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  let cursor = '0';
  do {
    const [next, keys] = (await redis.call('SCAN', cursor, 'COUNT', 1000)) as [string, string[]];
    cursor = next;
    for (const key of keys) {
      const rest = key.startsWith(KEY_PREFIX) ? key.slice(KEY_PREFIX.length) : key;
      const kind = /^\{u:[^}]*\}:([a-z]+):/.exec(rest)?.[1] ?? /^\{t:([a-z]+):/.exec(rest)?.[1]?.replace(/^/, 't:') ?? /^\{[ge]\}:[a-z]+/.exec(rest)?.[0] ?? 'other';
      counts[kind] = (counts[kind] ?? 0) + 1;
    }
  } while (cursor !== '0');
  return counts;
}

async function call(url: string, method: string, path: string, options: { token?: string; body?: object; ip: string; headers?: Record<string, string> }): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      'x-forwarded-for': options.ip,
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.body ? { 'content-type': 'application/json' } : {}),
      ...options.headers,
    },
    body: options.body ? JSON.stringify(options.body) : undefined,
  });
  const text = await res.text();
  return { status: res.status, body: text.startsWith('{') ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** The hostile tokens: malformed, forged, oversized, confused algorithms, expired; and no token at all. */
function hostileTokens(valid: string, demoKey: KeyObject, kid: string, issuer: string): string[] {
  const [header, payload] = valid.split('.');
  const now = Math.floor(Date.now() / 1000);
  const claims = { iss: issuer, aud: issuer, sub: 'mallory', iat: now, exp: now + 300, jti: randomUUID(), roles: ['admin'] };
  const otherKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const publicPem = createPublicKey(demoKey).export({ format: 'pem', type: 'spki' });
  const b64 = (value: object | string) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
  return [
    'not-a-jwt',
    'a.b.c',
    `${header}.${payload}`,
    `${header}.${b64({ ...claims })}.${valid.split('.')[2]}`, // another payload under a real signature
    signJws({ alg: 'ES256', typ: 'at+jwt', kid }, claims, otherKey, 'ES256'), // the demo's kid, another key
    `${b64({ alg: 'none', typ: 'at+jwt', kid })}.${b64(claims)}.`,
    signJws({ alg: 'HS256', typ: 'at+jwt', kid }, claims, Buffer.from(publicPem), 'HS256'), // key confusion
    signJws({ alg: 'ES256', typ: 'at+jwt', kid, jku: 'https://evil.example/jwks' }, claims, otherKey, 'ES256'),
    `${b64('{"alg":"ES256","alg":"none","typ":"at+jwt"}')}.${b64(claims)}.AAAA`, // duplicate keys
    `${header}.${'A'.repeat(9000)}.${valid.split('.')[2]}`, // over the 8 KiB cap
    signJws({ alg: 'ES256', typ: 'at+jwt', kid }, { ...claims, iat: now - 1000, exp: now - 100 }, demoKey, 'ES256'), // expired
    '',
  ];
}

/**
 * Runs the soak: starts Redis, the provider and the demo, mints the tokens, runs the traffic, samples memory,
 * and returns the report. Everything it started is stopped before it returns.
 */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  if (!(options.durationSec >= 5 && options.durationSec <= 840)) throw new RangeError('durationSec must be from 5 to 840');
  const factor = options.rateFactor ?? 1;
  const rate = (base: number) => Math.max(1, Math.round(base * factor));
  const redis = await RedisServer.start();
  let op: OidcProvider | undefined;
  let demo: DemoProcess | undefined;
  try {
    op = await OidcProvider.start({ audience: AUDIENCE, clientId: 'soak', clientSecret: randomBytes(24).toString('base64url'), accessTokenTtlSec: 3600 });
    const dir = mkdtempSync(join(tmpdir(), 'jwtd-soak-'));
    const demoKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const keyFile = join(dir, 'es256.pem');
    writeFileSync(keyFile, demoKey.export({ format: 'pem', type: 'pkcs8' }));
    const demoEnv: Record<string, string> = {
      LOG_FORMAT: 'json',
      REDIS_URL: redis.url,
      JWT_PRIVATE_KEY_FILE: keyFile,
      ACCESS_TOKEN_TTL_SEC: '900',
      // Every client is 127.0.0.1: the soak names its clients with X-Forwarded-For, believed from loopback only.
      TRUST_PROXY: '127.0.0.1',
      THROTTLE_LIMIT: '100',
      THROTTLE_TTL_MS: '20000',
      LOGIN_LIMIT: '10',
      LOGIN_TTL_MS: '60000',
      EXTERNAL_ISSUER: op.issuer,
      EXTERNAL_AUDIENCE: AUDIENCE,
      EXTERNAL_CA_FILE: op.caFile,
    };
    const jwtKeyEncryptionKey = randomBytes(32).toString('base64');
    demo = await startDemoProcess(options.demoMain, { ...demoEnv, JWT_KEY_ENCRYPTION_KEY: jwtKeyEncryptionKey }, { logFile: options.demoLogFile });
    const { url } = demo;

    // Tokens as the demo issues them (its key, issuer, audience, kid), minted in bulk for many users.
    const config = loadDemoConfig({ JWT_PRIVATE_KEY_FILE: keyFile });
    const [demoKeyOptions] = loadDemoKeys(config);
    const tokens = new TokenService(resolveJwtDefenseOptions({ token: { issuer: config.issuer, audience: config.audience, keys: [demoKeyOptions], maxAccessTokenTtlSec: 900 } }).token, new DefenseClock());
    const mint = (sub: string, claims: Record<string, unknown> = {}) => tokens.issue(sub, { roles: ['user'], ...claims }, { ttlSec: 900 });
    const many = (prefix: string, count: number, claims?: Record<string, unknown>) => Promise.all(Array.from({ length: count }, (_, i) => mint(`${prefix}-${i}`, claims)));

    const admin = await call(url, 'POST', '/auth/login', { ip: ADMIN_IP, body: { username: 'admin', password: 'admin-password' } });
    if (admin.status !== 200) throw new Error(`admin login: ${admin.status}`);
    const adminToken = admin.body.access_token as string;

    const valid = (await many('user', 1000)).map((issued) => issued.token);
    const throttledUsers = (await many('greedy', 2)).map((issued) => issued.token);
    // Revoked: half one by one (jti), half through revoke-all of their user.
    const revokedIssued = await many('revoked', 80); // the admin's own limit: 100 calls per 10 s
    for (const [i, issued] of revokedIssued.entries()) {
      const path = i % 2 === 0 ? `/admin/tokens/${issued.jti}/revoke` : `/admin/users/revoked-${i}/revoke-all`;
      const res = await call(url, 'POST', path, { ip: ADMIN_IP, token: adminToken, body: { reason: 'soak' } });
      if (res.status >= 300) throw new Error(`${path}: ${res.status}`);
    }
    const revoked = revokedIssued.map((issued) => issued.token);

    // DPoP: one real login with a proof (alice), and bound tokens minted for many users, each with its own key.
    const dpopKeys: Array<{ key: KeyObject; token: string }> = [];
    const aliceKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const alice = await call(url, 'POST', '/auth/login', {
      ip: '10.5.255.1',
      body: { username: 'alice', password: 'alice-password' },
      headers: { dpop: createDpopProof(aliceKey, { htm: 'POST', htu: `${url}/auth/login` }) },
    });
    if (alice.status !== 200 || alice.body.token_type !== 'DPoP') throw new Error(`alice's DPoP login: ${alice.status}`);
    dpopKeys.push({ key: aliceKey, token: alice.body.access_token as string });
    for (let i = 0; i < 49; i++) {
      const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      const jkt = await calculateJwkThumbprint(createPublicKey(key).export({ format: 'jwk' }) as JWK, 'sha256');
      dpopKeys.push({ key, token: (await mint(`dpop-${i}`, { cnf: { jkt } })).token });
    }
    // Proofs answered 200 once, for the replay class (newest last; bounded).
    const usedProofs: Array<{ token: string; proof: string }> = [];

    // External issuer: two real client-credentials tokens (sub = the client) among tokens signed with the
    // provider's current key for many subjects (served from its real JWKS).
    const nowSec = Math.floor(Date.now() / 1000);
    const external = [
      (await op.clientCredentialsToken()).access_token,
      ...Array.from({ length: 198 }, (_, i) => op!.signArbitraryToken({ iss: op!.issuer, aud: AUDIENCE, sub: `ext-${i}`, jti: randomUUID(), iat: nowSec, exp: nowSec + 3600, scope: 'api:read' })),
      (await op.clientCredentialsToken()).access_token,
    ];

    const hostile = hostileTokens(valid[0], demoKey, demoKeyOptions.kid, config.issuer);
    const bearer = (next: () => string, ip: () => string) => () => {
      const token = next();
      return { headers: { 'x-forwarded-for': ip(), ...(token ? { authorization: `Bearer ${token}` } : {}) } };
    };
    const nextDpop = cycle(dpopKeys);
    const dpopIp = addresses(5, 4096);
    const replayIp = addresses(6, 4096);
    const stuffingIp = addresses(4, 4096);
    const victims = cycle(Array.from({ length: 5 }, (_, i) => `victim-${i}`));
    const classes: TrafficClass[] = [
      {
        name: 'valid',
        description: '1000 users, each with a valid access token, from 4096 addresses',
        method: 'GET', path: '/me', rate: rate(150), connections: 6,
        expected: ['200'], mustSee: ['200'],
        prepare: bearer(cycle(valid), addresses(1, 4096)),
      },
      {
        name: 'revoked',
        description: `${revoked.length} revoked tokens (half by jti, half by revoke-all of their user)`,
        method: 'GET', path: '/me', rate: rate(25), connections: 2,
        expected: ['401 token_revoked'], mustSee: ['401 token_revoked'],
        prepare: bearer(cycle(revoked), addresses(2, 4096)),
      },
      {
        name: 'hostile',
        description: `${hostile.length} hostile requests: malformed, forged, alg none, key confusion, jku, duplicate keys, oversized, expired, no token`,
        method: 'GET', path: '/me', rate: rate(40), connections: 2,
        expected: ['401 token_malformed', '401 signature_invalid', '401 algorithm_not_allowed', '401 claim_invalid', '401 token_expired', '401 token_missing'],
        mustSee: ['401 token_malformed', '401 signature_invalid', '401 token_expired', '401 token_missing'],
        prepare: bearer(cycle(hostile), addresses(3, 4096)),
      },
      {
        name: 'throttled',
        description: '2 greedy clients (own address, own user) over THROTTLE_LIMIT (100 per 20 s)',
        method: 'GET', path: '/me', rate: rate(30), connections: 2,
        expected: ['200', '429 rate_limited'], mustSee: ['200', '429 rate_limited'],
        prepare: (() => {
          let next = 0;
          return () => {
            const i = next++ % throttledUsers.length;
            return { headers: { 'x-forwarded-for': `10.9.0.${i + 1}`, authorization: `Bearer ${throttledUsers[i]}` } };
          };
        })(),
      },
      {
        name: 'login-stuffing',
        description: 'wrong passwords for 5 usernames from 4096 addresses, over LOGIN_LIMIT per username (10 per minute)',
        method: 'POST', path: '/auth/login', rate: rate(10), connections: 2,
        expected: ['401 invalid_credentials', '429 rate_limited'], mustSee: ['429 rate_limited'],
        prepare: () => ({ headers: { 'x-forwarded-for': stuffingIp() }, body: JSON.stringify({ username: victims(), password: 'guess-123456' }) }),
      },
      {
        name: 'dpop',
        description: '50 DPoP-bound tokens (one from a real DPoP login), each request with a fresh proof',
        method: 'GET', path: '/me', rate: rate(30), connections: 2,
        expected: ['200'], mustSee: ['200'],
        prepare: () => {
          const { key, token } = nextDpop();
          const proof = createDpopProof(key, { htm: 'GET', htu: `${url}/me`, accessToken: token });
          return { headers: { 'x-forwarded-for': dpopIp(), authorization: `DPoP ${token}`, dpop: proof }, context: { token, proof } };
        },
        onAnswer: (answer, sent) => {
          if (answer !== '200') return;
          usedProofs.push(sent as { token: string; proof: string });
          if (usedProofs.length > 1000) usedProofs.splice(0, usedProofs.length - 1000);
        },
      },
      {
        name: 'dpop-replay',
        description: 'proofs already answered once, sent again with their token',
        method: 'GET', path: '/me', rate: rate(10), connections: 1,
        expected: ['401 invalid_dpop_proof'], mustSee: ['401 invalid_dpop_proof'],
        prepare: () => {
          const used = usedProofs[Math.floor(Math.random() * usedProofs.length)];
          // Before the first proof is answered: a proof with no token, refused the same way.
          if (!used) return { headers: { 'x-forwarded-for': replayIp(), authorization: `DPoP ${dpopKeys[0].token}` } };
          return { headers: { 'x-forwarded-for': replayIp(), authorization: `DPoP ${used.token}`, dpop: used.proof } };
        },
      },
      {
        name: 'external',
        description: `${external.length} tokens of the external OpenID provider (oidc-provider over HTTPS, keys from its JWKS)`,
        method: 'GET', path: '/me', rate: rate(30), connections: 2,
        expected: ['200'], mustSee: ['200'],
        prepare: bearer(cycle(external), addresses(7, 4096)),
      },
    ];

    const started = Date.now();
    const samples: SoakSample[] = [];
    const sample = async () => {
      const figures = await redisFigures(redis);
      samples.push({ atSec: Math.round((Date.now() - started) / 100) / 10, demoRssMb: rssMb(demo!.child.pid!), redisUsedMemoryBytes: figures.usedMemoryBytes, redisKeys: figures.keys });
    };
    await sample();
    const sampler = setInterval(() => void sample().catch(() => undefined), (options.sampleEverySec ?? 10) * 1000);
    let traffic: Awaited<ReturnType<typeof runTraffic>>;
    try {
      traffic = await runTraffic(url, classes, options.durationSec);
    } finally {
      clearInterval(sampler);
    }
    await sleep(200); // the last answers' store writes
    await sample();

    const kinds = await keysByKind(redis);
    const subjects = valid.length + throttledUsers.length + revoked.length + dpopKeys.length + 198 + 1 /* the client */ + 2 /* admin, alice */;
    const dpop = classes.find((traffic) => traffic.name === 'dpop')!;
    const dpopAnswered = traffic.results.find((result) => result.name === 'dpop')!.answers['200'] ?? 0;
    const replayWindowSec = 121; // DPoP proofs: ±60 s of iat, plus a second
    const ips = 4096 * 7 + throttledUsers.length + 2;
    const bounds: Record<string, { bound: number; why: string }> = {
      r: { bound: subjects, why: 'per-user rate counter: one per user (all users of the run)' },
      c: { bound: subjects, why: 'per-user context profile (layer 3): one per user' },
      a: { bound: subjects, why: 'per-user anomaly baselines (layer 4): one hash per user' },
      p: { bound: subjects, why: 'per-user step-up epoch: one per user' },
      n: { bound: revoked.length / 2 + 2, why: 'per-user revoke-all epoch: the users revoked-all, plus logins' },
      j: { bound: revoked.length / 2, why: 'jti denylist: the tokens revoked one by one' },
      s: { bound: 2, why: 'refresh sessions: the two real logins (admin, alice)' },
      ss: { bound: 2, why: "a user's live refresh sessions (one sorted set per user who logged in: admin, alice)" },
      // Proofs answered, those in flight when the load stopped (one per connection), alice's login proof; and never
      // more than the DPoP rate over the replay window, however long the run.
      dp: { bound: Math.min(dpopAnswered + dpop.connections + 1, Math.ceil(dpop.rate * replayWindowSec) + 1), why: `DPoP proofs seen: at most the DPoP rate × ${replayWindowSec} s (their replay window)` },
      't:ip': { bound: ips, why: 'per-address rate counters: the addresses of the run (each lives one window)' },
      't:body': { bound: 5 + 2, why: 'per-username login counters: the usernames tried' },
      '{g}:global': { bound: 1, why: 'global state' },
      '{g}:keys': { bound: 1, why: 'rotated signing keys' },
      '{e}:events': { bound: 1, why: 'the event stream (MAXLEN ~)' },
    };
    const keysByKindList: KeyKind[] = Object.entries({ ...Object.fromEntries(Object.keys(bounds).map((kind) => [kind, 0])), ...kinds })
      .filter(([kind, count]) => count > 0 || ['r', 'j', 'n', 'dp', 't:ip'].includes(kind))
      .map(([kind, count]) => ({ kind, count, bound: bounds[kind]?.bound ?? 0, why: bounds[kind]?.why ?? 'unexpected kind' }));

    const logText = demo.output();
    const errorLogLines = logText.split('\n').filter((line) => /"level":"(error|fatal)"/.test(line)).length;
    const results = traffic.results;
    const requests = results.reduce((sum, result) => sum + result.requests, 0);
    const first = samples[0];
    const last = samples[samples.length - 1];
    return {
      startedAt: new Date(started).toISOString(),
      durationSec: options.durationSec,
      machine: {
        cpu: cpus()[0]?.model ?? 'unknown',
        cores: cpus().length,
        node: process.version,
        redis: /redis_version:([\d.]+)/.exec((await redis.call('INFO', 'server')) as string)?.[1] ?? 'unknown',
      },
      demoEnv: { ...demoEnv, REDIS_URL: 'redis://127.0.0.1:<port>', EXTERNAL_ISSUER: 'https://127.0.0.1:<port>', EXTERNAL_CA_FILE: '<test CA>', JWT_PRIVATE_KEY_FILE: '<ES256 key file>' },
      classes: results,
      totals: {
        requests,
        reqPerSec: Math.round((requests / options.durationSec) * 10) / 10,
        unexpectedErrors: results.reduce((sum, result) => sum + result.unexpectedAnswers + result.errors, 0),
      },
      unexpectedSamples: traffic.samples,
      demo: { rssStartMb: first.demoRssMb, rssEndMb: last.demoRssMb, rssMaxMb: Math.max(...samples.map((entry) => entry.demoRssMb)), errorLogLines },
      redis: {
        usedMemoryStartBytes: first.redisUsedMemoryBytes,
        usedMemoryEndBytes: last.redisUsedMemoryBytes,
        keysStart: first.redisKeys,
        keysEnd: last.redisKeys,
        keysBound: keysByKindList.reduce((sum, kind) => sum + kind.bound, 0),
        keysByKind: keysByKindList,
      },
      samples,
    };
  } finally {
    await demo?.stop();
    await op?.stop();
    await redis.destroy();
  }
}

import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { Redis } from 'ioredis';
import { BackgroundWrites } from '../../../libs/jwt-defense/src/common/background-writes.js';
import type { HttpAdapterName } from '../../../apps/demo/src/demo.config.js';
import { startDemo, writeEs256KeyFiles, type DemoHandle, type DemoKeys } from '../../support/demo-app.js';
import { createDpopProof } from '../../support/oidc-provider.js';
import { RedisServer } from '../../support/redis-server.js';
import { snapshotState, type StateSnapshot } from './state-snapshot.js';
import { Tripwire } from './tripwire.js';

/** The demo's public origin for DPoP `htu` (PUBLIC_URL), so proofs do not depend on supertest's port. */
export const ORIGIN = 'https://api.attacks.test';
export const ISSUER = 'jwt-defense-demo';
/** The device alice logs in from: learned at login, so her valid requests are allowed without learning anew. */
export const ALICE_DEVICE = 'alice-laptop';
/** The device every hostile request comes from: a new context, which a refused request must never teach. */
export const ATTACKER_DEVICE = 'attacker-box';

export interface Session {
  access: string;
  refresh: string;
}

/**
 * One demo app under attack (one adapter, one signing algorithm) on a real Redis, with alice logged in from her
 * device: a bearer session and a DPoP-bound one. Cases forge tokens with the demo's own key (`privateKey`) so that
 * only the attacked property is wrong.
 */
export class AttackTarget {
  readonly tripwire: Tripwire;
  readonly alg: 'ES256' | 'RS256';
  readonly prefix: string;
  kid = '';
  alice!: Session;
  /** Bound to `dpopKey` (cnf.jkt). */
  bound!: Session;
  readonly dpopKey: KeyObject = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  /** A self-signed X.509 certificate of an attacker's key, base64 DER (for `x5c`). */
  readonly attackerCertificate: string;
  private redis!: Redis;

  private constructor(
    readonly adapter: HttpAdapterName,
    readonly demo: DemoHandle,
    options: { alg: 'ES256' | 'RS256'; prefix: string; tripwire: Tripwire; certificate: string },
  ) {
    this.alg = options.alg;
    this.prefix = options.prefix;
    this.tripwire = options.tripwire;
    this.attackerCertificate = options.certificate;
  }

  /** `name` makes the key prefix (and so the whole defence state) this target's own. */
  static async start(adapter: HttpAdapterName, alg: 'ES256' | 'RS256', { redis, tripwire, certificate }: AttackEnvironment, name = 'corpus'): Promise<AttackTarget> {
    const prefix = `attacks-${name}-${alg.toLowerCase()}-${adapter}:`;
    const keys = alg === 'ES256' ? writeEs256KeyFiles() : writeRsaKeyFiles();
    const demo = await startDemo(
      adapter,
      {
        JWT_ALGORITHM: alg,
        REDIS_URL: redis.url,
        REDIS_KEY_PREFIX: prefix,
        PUBLIC_URL: ORIGIN,
        // High enough that no case is throttled; a day-long window so that no counter rolls over mid-case.
        THROTTLE_LIMIT: '1000000000',
        THROTTLE_TTL_MS: '86400000',
        LOGIN_LIMIT: '1000000',
        // RISK_MODE and ANOMALY_MODE stay at the demo's default: enforce.
      },
      keys,
    );
    const target = new AttackTarget(adapter, demo, { alg, prefix, tripwire, certificate });
    target.redis = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      await target.logIn();
    } catch (error) {
      await target.close();
      throw error;
    }
    return target;
  }

  get privateKey(): KeyObject {
    return this.demo.privateKey;
  }

  get publicKey(): KeyObject {
    return this.demo.publicKey;
  }

  get server() {
    return this.demo.server;
  }

  nowSec(): number {
    return Math.floor(Date.now() / 1000);
  }

  /** alice's own claims, as the demo would issue them (a forged token differs from a genuine one only where a case says). */
  claims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    const now = this.nowSec();
    return { roles: ['user'], iss: ISSUER, aud: ISSUER, sub: 'alice', iat: now, exp: now + 300, jti: `forged-${Math.random().toString(36).slice(2)}`, ...overrides };
  }

  header(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return { alg: this.alg, typ: 'at+jwt', kid: this.kid, ...overrides };
  }

  /** A DPoP proof for `GET /me` by `key` (default: the bound session's key) for `accessToken`. */
  proof(accessToken: string | undefined, options: { key?: KeyObject; htm?: string; path?: string; iat?: number; jti?: string } = {}): string {
    return createDpopProof(options.key ?? this.dpopKey, {
      htm: options.htm ?? 'GET',
      htu: `${ORIGIN}${options.path ?? '/me'}`,
      accessToken,
      iat: options.iat,
      jti: options.jti,
    });
  }

  /** A request from the attacker's device (a context alice never used). */
  attacker(method: 'get' | 'post', path: string): request.Test {
    return request(this.server)[method](path).set('X-Device-Id', ATTACKER_DEVICE);
  }

  /** alice's valid bearer token, from her learned device. */
  validBearer(): request.Test {
    return request(this.server).get('/me').set('X-Device-Id', ALICE_DEVICE).set('Authorization', `Bearer ${this.alice.access}`);
  }

  /** alice's valid DPoP-bound token with a fresh proof, from her learned device. */
  validDpop(): request.Test {
    return request(this.server)
      .get('/me')
      .set('X-Device-Id', ALICE_DEVICE)
      .set('Authorization', `DPoP ${this.bound.access}`)
      .set('DPoP', this.proof(this.bound.access));
  }

  /** Logs alice in from her device (with a DPoP proof when `dpopKey` is given). */
  async login(dpopKey?: KeyObject): Promise<Session> {
    const req = request(this.server).post('/auth/login').set('X-Device-Id', ALICE_DEVICE);
    if (dpopKey) req.set('DPoP', createDpopProof(dpopKey, { htm: 'POST', htu: `${ORIGIN}/auth/login` }));
    const res = await req.send({ username: 'alice', password: 'alice-password' });
    if (res.status !== 200) throw new Error(`login: ${res.status} ${res.text}`);
    await this.settle();
    return { access: res.body.access_token, refresh: res.body.refresh_token };
  }

  /** Exchanges a refresh token (a bound session's with a proof by `dpopKey`). */
  async refresh(refreshToken: string, dpopKey?: KeyObject): Promise<Session> {
    const req = request(this.server).post('/auth/refresh').set('X-Device-Id', ALICE_DEVICE);
    if (dpopKey) req.set('DPoP', createDpopProof(dpopKey, { htm: 'POST', htu: `${ORIGIN}/auth/refresh` }));
    const res = await req.send({ refresh_token: refreshToken });
    if (res.status !== 200) throw new Error(`refresh: ${res.status} ${res.text}`);
    await this.settle();
    return { access: res.body.access_token, refresh: res.body.refresh_token };
  }

  /** Waits for the writes the demo makes without the request waiting (learning a context after an allowed request). */
  async settle(): Promise<void> {
    await this.demo.app.get(BackgroundWrites).settle();
  }

  /** Every key of this demo's prefix but the per-IP throttle counters and the event stream, once quiet. */
  async snapshot(): Promise<StateSnapshot> {
    await this.settle();
    return snapshotState(this.redis, this.prefix);
  }

  /** The Redis key of alice's refresh session `sid` (from the refresh token `<tag>.<sid>.<generation>.<mac>`). */
  sessionKey(refreshToken: string): string {
    const [tag, sid] = refreshToken.split('.');
    return `${this.prefix}{u:${tag}}:s:${sid}`;
  }

  /** The Redis key of alice's live refresh sessions (a sorted set of sids under her tag). */
  liveSessionsKey(refreshToken: string): string {
    return `${this.prefix}{u:${refreshToken.split('.')[0]}}:ss:`;
  }

  async close(): Promise<void> {
    this.redis?.disconnect();
    await this.demo.close();
  }

  private async logIn(): Promise<void> {
    this.alice = await this.login();
    this.bound = await this.login(this.dpopKey);
    this.kid = JSON.parse(Buffer.from(this.alice.access.split('.')[0], 'base64url').toString()).kid;
    // The first requests of the hour are learned (hour of week); after them, valid requests learn nothing new.
    for (const pending of [this.validBearer(), this.validDpop()]) {
      const res = await pending;
      if (res.status !== 200) throw new Error(`first valid request: ${res.status} ${res.text}`);
    }
    await this.settle();
  }
}

/** An RS256 key pair in a PEM file, for the RS256 target (the demo signs with it). */
export function writeRsaKeyFiles(): DemoKeys {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const dir = mkdtempSync(join(tmpdir(), 'jwt-defense-rsa-'));
  const privateKeyFile = join(dir, 'private.pem');
  writeFileSync(privateKeyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }));
  return { privateKey, publicKey, privateKeyFile, keyEncryptionKey: randomBytes(32).toString('base64') };
}

/** A self-signed certificate of a fresh attacker key (openssl), base64 DER as `x5c` carries it. */
export function attackerCertificate(): string {
  const dir = mkdtempSync(join(tmpdir(), 'jwt-defense-x5c-'));
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, 'k.pem'),
      '-out', join(dir, 'c.pem'), '-days', '1', '-subj', '/CN=jwt-defense-demo'], { stdio: 'ignore' });
    const pem = readFileSync(join(dir, 'c.pem'), 'utf8');
    return pem.replace(/-----[A-Z ]+-----|\s/g, '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The public key of `key` as the JWK the demo publishes (kty, crv/x/y or n/e). */
export function jwkOf(key: KeyObject): Record<string, string> {
  return createPublicKey(key).export({ format: 'jwk' }) as Record<string, string>;
}

/** What the attack suites share: one real Redis, the tripwire that jku/x5u URLs point at, the attacker's certificate. */
export interface AttackEnvironment {
  redis: RedisServer;
  tripwire: Tripwire;
  certificate: string;
}

/** Starts the {@link AttackEnvironment} before the suite and stops it after; read its fields inside tests. */
export function useAttackEnvironment(): AttackEnvironment {
  const env = {} as AttackEnvironment;
  beforeAll(async () => {
    env.redis = await RedisServer.start();
    env.tripwire = await Tripwire.start();
    env.certificate = attackerCertificate();
  }, 30_000);
  afterAll(async () => {
    await env.tripwire?.close();
    await env.redis?.destroy();
  });
  return env;
}

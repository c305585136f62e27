import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { createDpopProof, OidcProvider } from './support/oidc-provider.js';
import { ADAPTERS, startDemo, type DemoHandle } from './support/demo-app.js';
import { RedisServer, untilStoreAnswers } from './support/redis-server.js';
import { DefenseStore as DEFENSE_STORE, type DefenseStore } from '@jwt-defense/core/store';

// The demo's environment variables (both parts of its contract), each shown to be read: a value changes an answer.

const NO_LIMITS = { THROTTLE_LIMIT: '1000000', LOGIN_LIMIT: '1000000' };
const TRUSTED = { TRUST_PROXY: '127.0.0.1/32,::1/128,::ffff:127.0.0.1/128' };
const LAPTOP = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const PHONE = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36';

const decode = (token: string, part: 0 | 1) => JSON.parse(Buffer.from(token.split('.')[part], 'base64url').toString()) as Record<string, unknown>;

function pemFile(name: string, pem: string | Buffer): string {
  const file = join(mkdtempSync(join(tmpdir(), 'jwtd-env-')), name);
  writeFileSync(file, pem);
  return file;
}

async function withDemo<T>(adapter: 'express' | 'fastify', env: Record<string, string>, run: (demo: DemoHandle) => Promise<T>): Promise<T> {
  const demo = await startDemo(adapter, { ...NO_LIMITS, ...env });
  try {
    return await run(demo);
  } finally {
    await demo.close();
  }
}

async function login(demo: DemoHandle, username = 'alice', headers: Record<string, string> = {}) {
  const req = request(demo.server).post('/auth/login');
  for (const [name, value] of Object.entries(headers)) req.set(name, value);
  return req.send({ username, password: `${username}-password` });
}

describe.each(ADAPTERS)('the demo environment over %s', (adapter) => {
  describe('JWT_ALGORITHM, JWT_SECRET, JWT_PRIVATE_KEY_FILE and JWT_PUBLIC_KEY_FILE', () => {
    it('HS256 with JWT_SECRET: HS256 tokens, and the JWKS publishes no key', async () => {
      await withDemo(adapter, { JWT_ALGORITHM: 'HS256', JWT_SECRET: randomBytes(32).toString('base64url'), JWT_PRIVATE_KEY_FILE: '' }, async (demo) => {
        const token = (await login(demo)).body.access_token as string;
        expect(decode(token, 0)).toMatchObject({ alg: 'HS256', typ: 'at+jwt' });
        expect((await request(demo.server).get('/me').set('Authorization', `Bearer ${token}`)).status).toBe(200);
        const jwks = await request(demo.server).get('/.well-known/jwks.json');
        expect(jwks.status === 404 || (jwks.status === 200 && jwks.body.keys.length === 0)).toBe(true);
      });
    });

    it.each([
      ['EdDSA', () => generateKeyPairSync('ed25519'), 'OKP'],
      ['RS256', () => generateKeyPairSync('rsa', { modulusLength: 2048 }), 'RSA'],
    ] as const)('%s from a PEM file: tokens of that algorithm, its public key in the JWKS', async (algorithm, generate, kty) => {
      const { privateKey, publicKey } = generate();
      const env = {
        JWT_ALGORITHM: algorithm,
        JWT_PRIVATE_KEY_FILE: pemFile('private.pem', privateKey.export({ format: 'pem', type: 'pkcs8' })),
        JWT_PUBLIC_KEY_FILE: pemFile('public.pem', publicKey.export({ format: 'pem', type: 'spki' })),
      };
      await withDemo(adapter, env, async (demo) => {
        const token = (await login(demo)).body.access_token as string;
        expect(decode(token, 0).alg).toBe(algorithm);
        expect((await request(demo.server).get('/me').set('Authorization', `Bearer ${token}`)).status).toBe(200);
        const { keys } = (await request(demo.server).get('/.well-known/jwks.json')).body as { keys: Array<Record<string, unknown>> };
        expect(keys).toEqual([expect.objectContaining({ kid: decode(token, 0).kid, alg: algorithm, use: 'sig', kty })]);
        expect(keys[0]).not.toHaveProperty('d');
      });
    });

    it('JWT_PUBLIC_KEY_FILE that is not the public half of the private key stops the boot, naming both', async () => {
      const signing = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      await expect(
        startDemo(adapter, {
          JWT_PRIVATE_KEY_FILE: pemFile('private.pem', signing.privateKey.export({ format: 'pem', type: 'pkcs8' })),
          JWT_PUBLIC_KEY_FILE: pemFile('public.pem', other.publicKey.export({ format: 'pem', type: 'spki' })),
        }),
      ).rejects.toThrow(/JWT_PUBLIC_KEY_FILE is not the public half of JWT_PRIVATE_KEY_FILE/);
    });
  });

  it('JWT_ISSUER, JWT_AUDIENCE and ACCESS_TOKEN_TTL_SEC shape the tokens; a lifetime over 900 s stops the boot', async () => {
    const keys = { JWT_ISSUER: 'https://issuer.example', JWT_AUDIENCE: 'orders-api', ACCESS_TOKEN_TTL_SEC: '120' };
    await withDemo(adapter, keys, async (custom) => {
      const res = await login(custom);
      expect(res.body.expires_in).toBe(120);
      const claims = decode(res.body.access_token, 1);
      expect(claims).toMatchObject({ iss: 'https://issuer.example', aud: 'orders-api' });
      expect((claims.exp as number) - (claims.iat as number)).toBe(120);
      expect((await request(custom.server).get('/me').set('Authorization', `Bearer ${res.body.access_token}`)).status).toBe(200);
    });
    await expect(startDemo(adapter, { ACCESS_TOKEN_TTL_SEC: '901' })).rejects.toThrow(/ACCESS_TOKEN_TTL_SEC/);
  });

  it('LOGIN_LIMIT per LOGIN_TTL_MS: the window is the one given', async () => {
    await withDemo(adapter, { THROTTLE_LIMIT: '1000000', LOGIN_LIMIT: '2', LOGIN_TTL_MS: '1500' }, async (demo) => {
      expect((await login(demo)).status).toBe(200);
      expect((await login(demo)).status).toBe(200);
      const limited = await login(demo);
      expect(limited.status).toBe(429);
      expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(2);
      await new Promise((resolve) => setTimeout(resolve, 1600));
      expect((await login(demo)).status).toBe(200);
    });
  });

  it('THROTTLE_ALLOW: a listed client skips THROTTLE_LIMIT, is still authenticated, and meets the per-username LOGIN_LIMIT; a bad CIDR stops the boot', async () => {
    await withDemo(adapter, { THROTTLE_LIMIT: '2', LOGIN_LIMIT: '2', THROTTLE_ALLOW: '192.0.2.0/24, 127.0.0.0/8' }, async (demo) => {
      for (let i = 0; i < 4; i++) expect((await request(demo.server).get('/health')).status).toBe(200);
      for (let i = 0; i < 3; i++) expect((await request(demo.server).get('/me')).body.code).toBe('token_missing');
      const logins: number[] = [];
      for (let i = 0; i < 3; i++) logins.push((await request(demo.server).post('/auth/login').send({ username: 'alice', password: 'wrong' })).status);
      expect(logins).toEqual([401, 401, 429]);
    });
    await expect(startDemo(adapter, { THROTTLE_ALLOW: '127.0.0.0/8,10.0.0.0/33' })).rejects.toThrow(/THROTTLE_ALLOW/);
  });

  it('tokens carry auth_time and acr; a refresh keeps auth_time', async () => {
    await withDemo(adapter, {}, async (demo) => {
      const first = (await login(demo)).body as { access_token: string; refresh_token: string };
      const claims = decode(first.access_token, 1);
      expect(typeof claims.auth_time).toBe('number');
      expect(typeof claims.acr).toBe('string');
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const refreshed = await request(demo.server).post('/auth/refresh').send({ refresh_token: first.refresh_token });
      expect(refreshed.status).toBe(200);
      const again = decode(refreshed.body.access_token, 1);
      expect(again.iat).toBeGreaterThan(claims.iat as number);
      expect({ auth_time: again.auth_time, acr: again.acr }).toEqual({ auth_time: claims.auth_time, acr: claims.acr });
    });
  });

  describe('COUNTRY_HEADER and RISK_STEP_UP_AT', () => {
    const me = (demo: DemoHandle, token: string, headers: Record<string, string>) => {
      const req = request(demo.server).get('/me').set('Authorization', `Bearer ${token}`);
      for (const [name, value] of Object.entries(headers)) req.set(name, value);
      return req;
    };

    it('the country is read from the configured header only (from a trusted proxy)', async () => {
      await withDemo(adapter, { ...TRUSTED, COUNTRY_HEADER: 'x-client-country', RISK_DENY_AT: '2' }, async (demo) => {
        const token = (await login(demo, 'alice', { 'User-Agent': LAPTOP, 'X-Client-Country': 'FR' })).body.access_token;
        // CF-IPCountry is not the configured header: no new country seen.
        expect((await me(demo, token, { 'User-Agent': LAPTOP, 'CF-IPCountry': 'BR' })).status).toBe(200);
        const moved = await me(demo, token, { 'User-Agent': LAPTOP, 'X-Client-Country': 'BR' });
        expect({ status: moved.status, code: moved.body.code }).toEqual({ status: 401, code: 'insufficient_user_authentication' });
      });
    });

    it('RISK_STEP_UP_AT moves the step-up threshold', async () => {
      // A new device alone scores 0.3: below the default 0.4, at or above 0.3.
      for (const [threshold, expected] of [['0.4', 200], ['0.3', 401]] as const) {
        await withDemo(adapter, { ...TRUSTED, RISK_STEP_UP_AT: threshold }, async (demo) => {
          const token = (await login(demo, 'alice', { 'User-Agent': LAPTOP, 'CF-IPCountry': 'FR' })).body.access_token;
          const res = await me(demo, token, { 'User-Agent': PHONE, 'CF-IPCountry': 'FR' });
          expect({ threshold, status: res.status }).toEqual({ threshold, status: expected });
        });
      }
    });
  });

  it('DPOP=off: the DPoP scheme is refused, and a proof at login binds nothing', async () => {
    await withDemo(adapter, { DPOP: 'off' }, async (demo) => {
      await demo.app.listen(0, '127.0.0.1');
      const origin = `http://127.0.0.1:${(demo.app.getHttpServer().address() as import('node:net').AddressInfo).port}`;
      const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      const res = await request(demo.server)
        .post('/auth/login')
        .set('Host', origin.slice(7))
        .set('DPoP', createDpopProof(key, { htm: 'POST', htu: `${origin}/auth/login` }))
        .send({ username: 'alice', password: 'alice-password' });
      expect(res.status).toBe(200);
      expect(res.body.token_type).toBe('Bearer');
      expect(decode(res.body.access_token, 1)).not.toHaveProperty('cnf');
      const token = res.body.access_token as string;
      expect((await request(demo.server).get('/me').set('Authorization', `Bearer ${token}`)).status).toBe(200);
      const asDpop = await request(demo.server)
        .get('/me')
        .set('Host', origin.slice(7))
        .set('Authorization', `DPoP ${token}`)
        .set('DPoP', createDpopProof(key, { htm: 'GET', htu: `${origin}/me`, accessToken: token }));
      expect(asDpop.status).toBe(401);
    });
  });

  it('STORE_INSURANCE=on with STORE_INSURANCE_INSTANCES: Redis stopped, THROTTLE_LIMIT is counted in this instance\'s share; off: it fails open; bad values stop the boot', async () => {
    const redis = await RedisServer.start();
    const env = (prefix: string, insurance: Record<string, string>) => ({
      REDIS_URL: redis.url,
      REDIS_KEY_PREFIX: `${prefix}-${adapter}:`,
      REDIS_COMMAND_TIMEOUT_MS: '200',
      THROTTLE_LIMIT: '4',
      ...insurance,
    });
    const on = await startDemo(adapter, env('on', { STORE_INSURANCE: 'on', STORE_INSURANCE_INSTANCES: '2' }));
    const off = await startDemo(adapter, env('off', {}));
    try {
      await redis.stop();
      const health = async (demo: DemoHandle) => {
        const statuses: number[] = [];
        for (let i = 0; i < 3; i++) statuses.push((await request(demo.server).get('/health').timeout(2000)).status);
        return statuses;
      };
      expect(await health(on)).toEqual([200, 200, 429]); // ceil(4 / 2) per window on this instance
      expect(await health(off)).toEqual([200, 200, 200]);
      // The demos close on a store that answers again.
      await redis.resume();
      await Promise.all([on, off].map((demo) => untilStoreAnswers(demo.app.get<DefenseStore>(DEFENSE_STORE))));
    } finally {
      await Promise.all([on.close(), off.close()]);
      await redis.destroy();
    }
    await expect(startDemo(adapter, { STORE_INSURANCE: 'maybe' })).rejects.toThrow(/STORE_INSURANCE/);
    await expect(startDemo(adapter, { STORE_INSURANCE: 'on', STORE_INSURANCE_INSTANCES: '0' })).rejects.toThrow(/STORE_INSURANCE_INSTANCES/);
    await expect(startDemo(adapter, { STORE_INSURANCE_INSTANCES: '2' })).rejects.toThrow(/STORE_INSURANCE_INSTANCES needs STORE_INSURANCE=on/);
  }, 30_000);
});

describe('the demo environment for an external issuer (real oidc-provider)', () => {
  const AUDIENCE = 'https://api.demo.example';
  let op: OidcProvider;
  beforeAll(async () => {
    op = await OidcProvider.start({ audience: AUDIENCE, clientId: 'env-client', clientSecret: 'env-client-secret-0123456789abcdef', accessTokenTtlSec: 300 });
  }, 30_000);
  afterAll(() => op?.stop());

  const external = (env: Record<string, string>) => ({ EXTERNAL_ISSUER: op.issuer, EXTERNAL_AUDIENCE: AUDIENCE, EXTERNAL_CA_FILE: op.caFile, ...env });

  it.each(ADAPTERS)('EXTERNAL_JWKS_URL is where keys come from (over %s)', async (adapter) => {
    const token = (await op.clientCredentialsToken()).access_token;
    await withDemo(adapter, external({ EXTERNAL_JWKS_URL: op.jwksUri }), async (demo) => {
      expect((await request(demo.server).get('/me').set('Authorization', `Bearer ${token}`)).status).toBe(200);
    });
    await withDemo(adapter, external({ EXTERNAL_JWKS_URL: `${op.issuer}/no-such-jwks` }), async (demo) => {
      expect((await request(demo.server).get('/me').set('Authorization', `Bearer ${token}`)).status).not.toBe(200);
    });
  }, 30_000);

  it.each(ADAPTERS)('EXTERNAL_ROLES_CLAIM (exact name, then dot path) and EXTERNAL_MAX_TOKEN_TTL_SEC (over %s)', async (adapter) => {
    const token = (await op.clientCredentialsToken({ extraClaims: { 'https://example.com/roles': ['auditor'], realm_access: { roles: ['viewer'] } } })).access_token;
    const me = (demo: DemoHandle) => request(demo.server).get('/me').set('Authorization', `Bearer ${token}`);
    await withDemo(adapter, external({ EXTERNAL_ROLES_CLAIM: 'https://example.com/roles' }), async (demo) => {
      const res = await me(demo);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ sub: 'env-client', iss: op.issuer, roles: ['auditor'], exp: decode(token, 1).exp });
    });
    await withDemo(adapter, external({ EXTERNAL_ROLES_CLAIM: 'realm_access.roles' }), async (demo) => {
      expect((await me(demo)).body.roles).toEqual(['viewer']);
    });
    // The provider's tokens live 300 s: over a 120 s maximum they are refused.
    await withDemo(adapter, external({ EXTERNAL_MAX_TOKEN_TTL_SEC: '120' }), async (demo) => {
      const res = await me(demo);
      expect({ status: res.status, code: res.body.code }).toEqual({ status: 401, code: 'claim_invalid' });
    });
  }, 30_000);
});

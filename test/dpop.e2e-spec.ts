import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { calculateJwkThumbprint, type JWK } from 'jose';
import { JwtDefenseModule, SecurityEventService, TokenService } from '@jwt-defense/core';
import { DefenseStore, type MemoryDefenseStore } from '@jwt-defense/core/store';
import { BackgroundWrites } from '../libs/jwt-defense/src/common/background-writes.js';
import { fixtureOptions, startFixture } from './fixtures/fixture.app.js';
import { WhoamiController } from './fixtures/whoami.controller.js';
import { ADAPTERS, startDemo, writeEs256KeyFiles, type DemoHandle } from './support/demo-app.js';
import { createDpopProof, OidcProvider } from './support/oidc-provider.js';
import { RedisServer } from './support/redis-server.js';

// DPoP (RFC 9449) on the demo, both adapters: sender-constrained tokens, so a stolen token alone is useless.

const ecKey = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const thumbprint = (key: KeyObject) => calculateJwkThumbprint(createPublicKey(key).export({ format: 'jwk' }) as JWK, 'sha256');
const claimsOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());

describe.each(ADAPTERS)('DPoP over %s', (adapter) => {
  let demo: DemoHandle;
  let origin: string;
  const key = ecKey();
  beforeAll(async () => {
    demo = await startDemo(adapter, { THROTTLE_LIMIT: '1000000', LOGIN_LIMIT: '1000000' });
    await demo.app.listen(0, '127.0.0.1');
    origin = `http://127.0.0.1:${(demo.app.getHttpServer().address() as AddressInfo).port}`;
  });
  afterAll(() => demo.close());

  const proof = (htm: string, path: string, extra: { accessToken?: string; key?: KeyObject; iat?: number; jti?: string; htu?: string } = {}) =>
    createDpopProof(extra.key ?? key, { htm, htu: extra.htu ?? `${origin}${path}`, accessToken: extra.accessToken, iat: extra.iat, jti: extra.jti });
  const login = async (withProof = true) => {
    const req = request(demo.server).post('/auth/login').set('Host', origin.slice(7));
    if (withProof) req.set('DPoP', proof('POST', '/auth/login'));
    const res = await req.send({ username: 'alice', password: 'alice-password' });
    expect(res.status).toBe(200);
    return res.body as { access_token: string; refresh_token: string; token_type: string };
  };
  const me = (scheme: string, token: string, dpop?: string) => {
    const req = request(demo.server).get('/me').set('Host', origin.slice(7)).set('Authorization', `${scheme} ${token}`);
    return dpop ? req.set('DPoP', dpop) : req;
  };

  it('a login with a proof gets tokens bound to its key: token_type DPoP and cnf.jkt', async () => {
    const tokens = await login();
    expect(tokens.token_type).toBe('DPoP');
    expect(claimsOf(tokens.access_token).cnf).toEqual({ jkt: await thumbprint(key) });
    expect((await login(false)).token_type).toBe('Bearer');
  });

  it('a bound token works with the DPoP scheme and a fresh proof of the same key, and nothing else', async () => {
    const { access_token: token } = await login();
    const ok = await me('DPoP', token, proof('GET', '/me', { accessToken: token }));
    expect(ok.status).toBe(200);
    expect(ok.body.sub).toBe('alice');

    const cases: Array<[string, request.Test]> = [
      ['no proof', me('DPoP', token)],
      ['sent as Bearer', me('Bearer', token, proof('GET', '/me', { accessToken: token }))],
      ['another key', me('DPoP', token, proof('GET', '/me', { accessToken: token, key: ecKey() }))],
      ['another method', me('DPoP', token, proof('POST', '/me', { accessToken: token }))],
      ['another URL', me('DPoP', token, proof('GET', '/admin/security-events', { accessToken: token }))],
      ['another token (ath)', me('DPoP', token, proof('GET', '/me', { accessToken: `${token}x` }))],
      ['no ath', me('DPoP', token, proof('GET', '/me'))],
      ['stale (iat 5 min ago)', me('DPoP', token, proof('GET', '/me', { accessToken: token, iat: Math.floor(Date.now() / 1000) - 300 }))],
      ['from the future', me('DPoP', token, proof('GET', '/me', { accessToken: token, iat: Math.floor(Date.now() / 1000) + 300 }))],
      ['not a JWS', me('DPoP', token, 'not-a-proof')],
    ];
    for (const [name, pending] of cases) {
      const res = await pending;
      expect({ name, status: res.status, code: res.body.code }).toEqual({ name, status: 401, code: 'invalid_dpop_proof' });
      expect(res.headers['www-authenticate']).toMatch(/^DPoP realm="api", algs="[^"]+", error="(invalid_dpop_proof|invalid_token)"$/);
    }
  });

  it('a replayed proof is refused', async () => {
    const { access_token: token } = await login();
    const once = proof('GET', '/me', { accessToken: token });
    expect((await me('DPoP', token, once)).status).toBe(200);
    const replay = await me('DPoP', token, once);
    expect(replay.status).toBe(401);
    expect(replay.body.code).toBe('invalid_dpop_proof');
  });

  it('an unbound token with the DPoP scheme is refused; as Bearer it works (dpop: allowed)', async () => {
    const { access_token: plain } = await login(false);
    expect((await me('DPoP', plain, proof('GET', '/me', { accessToken: plain }))).status).toBe(401);
    expect((await me('Bearer', plain)).status).toBe(200);
  });

  it('the refresh of a bound session needs a proof by the same key', async () => {
    const { refresh_token: refreshToken } = await login();
    const refresh = (dpop?: string) => {
      const req = request(demo.server).post('/auth/refresh').set('Host', origin.slice(7));
      return (dpop ? req.set('DPoP', dpop) : req).send({ refresh_token: refreshToken });
    };
    expect((await refresh()).body.code).toBe('invalid_dpop_proof');
    expect((await refresh(proof('POST', '/auth/refresh', { key: ecKey() }))).body.code).toBe('invalid_dpop_proof');
    const ok = await refresh(proof('POST', '/auth/refresh'));
    expect(ok.status).toBe(200);
    expect(ok.body.token_type).toBe('DPoP');
    expect(claimsOf(ok.body.access_token).cnf).toEqual({ jkt: await thumbprint(key) });
  });

  it('H2: requests the user limit refuses record no proof: a flood of fresh proofs leaves the replay space as it was', async () => {
    // The per-user limit at 3; the flood comes from many addresses (each under the per-IP limit), as in the review.
    const limited = await startDemo(adapter, { THROTTLE_LIMIT: '3', LOGIN_LIMIT: '1000000', TRUST_PROXY: '127.0.0.1/32,::1/128,::ffff:127.0.0.1/128' });
    try {
      await limited.app.listen(0, '127.0.0.1');
      const at = `http://127.0.0.1:${(limited.app.getHttpServer().address() as AddressInfo).port}`;
      const host = at.slice(7);
      const tokens = await request(limited.server).post('/auth/login').set('Host', host).set('DPoP', createDpopProof(key, { htm: 'POST', htu: `${at}/auth/login` })).send({ username: 'alice', password: 'alice-password' });
      const token = tokens.body.access_token as string;
      const proofs = () => (limited.app.get(DefenseStore) as MemoryDefenseStore).sizes.dpopProofs;
      const before = proofs();
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) {
        const res = await request(limited.server).get('/me').set('Host', host).set('X-Forwarded-For', `198.18.0.${i + 1}`).set('Authorization', `DPoP ${token}`).set('DPoP', createDpopProof(key, { htm: 'GET', htu: `${at}/me`, accessToken: token }));
        statuses.push(res.status);
      }
      // The per-user limit (3) lets three through; only their proofs are kept.
      expect(statuses.filter((status) => status === 200)).toHaveLength(3);
      expect(statuses.filter((status) => status === 429)).toHaveLength(17);
      expect(proofs() - before).toBe(3);
    } finally {
      await limited.close();
    }
  });

  it('M1: a proof replayed at the token endpoints is refused: a second login, a second refresh (which rotates nothing)', async () => {
    const loginProof = proof('POST', '/auth/login');
    const loginWith = (dpop: string) => request(demo.server).post('/auth/login').set('Host', origin.slice(7)).set('DPoP', dpop).send({ username: 'alice', password: 'alice-password' });
    expect((await loginWith(loginProof)).status).toBe(200);
    const replayedLogin = await loginWith(loginProof);
    expect(replayedLogin.status).toBe(401);
    expect(replayedLogin.body.code).toBe('invalid_dpop_proof');
    expect(replayedLogin.body).not.toHaveProperty('access_token');

    const { refresh_token: first } = await login();
    const refreshWith = (refreshToken: string, dpop: string) => request(demo.server).post('/auth/refresh').set('Host', origin.slice(7)).set('DPoP', dpop).send({ refresh_token: refreshToken });
    const refreshProof = proof('POST', '/auth/refresh');
    const rotated = await refreshWith(first, refreshProof);
    expect(rotated.status).toBe(200);
    const replayed = await refreshWith(rotated.body.refresh_token, refreshProof);
    expect(replayed.status).toBe(401);
    expect(replayed.body.code).toBe('invalid_dpop_proof');
    // The refused refresh rotated nothing: the refresh token it carried still works once, with a fresh proof.
    expect((await refreshWith(rotated.body.refresh_token, proof('POST', '/auth/refresh'))).status).toBe(200);
  });

  it('L2: on the refresh route the refresh token is checked before the proof, and a bad proof leaves no rotated session', async () => {
    const { refresh_token: refreshToken } = await login();
    const [tag, sid, generation] = refreshToken.split('.');
    const refreshWith = (token: string, dpop: string) => request(demo.server).post('/auth/refresh').set('Host', origin.slice(7)).set('DPoP', dpop).send({ refresh_token: token });
    // A forged refresh token with a garbage proof: refused for the token (no proof verification spent on it).
    const forged = await refreshWith(`${tag}.${sid}.${generation}.${'A'.repeat(43)}`, 'not-a-proof');
    expect(forged.status).toBe(401);
    expect(forged.body.code).toBe('signature_invalid');
    // The genuine token with proofs that fail (another key, another URL): 401, and the session did not move.
    for (const bad of [proof('POST', '/auth/refresh', { key: ecKey() }), proof('POST', '/auth/login')]) {
      const refused = await refreshWith(refreshToken, bad);
      expect(refused.status).toBe(401);
      expect(refused.body.code).toBe('invalid_dpop_proof');
    }
    expect((await refreshWith(refreshToken, proof('POST', '/auth/refresh'))).status).toBe(200);
  });

  it('L2: a proof whose key is out of bounds is refused before any crypto (RSA exponent, small modulus, other curves)', async () => {
    const rsa = (options: { modulusLength: number; publicExponent?: number }) => generateKeyPairSync('rsa', options).privateKey;
    /** A genuine P-256 proof whose header names another curve: refused for the curve, not for its (now broken) signature. */
    const otherCurve = () => {
      const [header, ...rest] = proof('POST', '/auth/login').split('.');
      const decoded = JSON.parse(Buffer.from(header, 'base64url').toString());
      return [Buffer.from(JSON.stringify({ ...decoded, jwk: { ...decoded.jwk, crv: 'secp256k1' } })).toString('base64url'), ...rest].join('.');
    };
    const cases: Array<[string, string, string]> = [
      ['an RSA exponent other than 65537', proof('POST', '/auth/login', { key: rsa({ modulusLength: 2048, publicExponent: 3 }) }), 'proof_jwk_rsa_exponent'],
      ['a 1024-bit RSA modulus', proof('POST', '/auth/login', { key: rsa({ modulusLength: 1024 }) }), 'proof_jwk_rsa_modulus'],
      ['an EC key on secp256k1', otherCurve(), 'proof_jwk_curve'],
    ];
    const reasons: string[] = [];
    const subscription = demo.app.get(SecurityEventService).events$.subscribe((event) => {
      if (event.type === 'dpop_proof_invalid' && event.reason) reasons.push(event.reason);
    });
    try {
      for (const [name, dpop, reason] of cases) {
        const res = await request(demo.server).post('/auth/login').set('Host', origin.slice(7)).set('DPoP', dpop).send({ username: 'alice', password: 'alice-password' });
        expect({ name, status: res.status, code: res.body.code }).toEqual({ name, status: 401, code: 'invalid_dpop_proof' });
        expect(reasons.pop()).toBe(reason);
      }
    } finally {
      subscription.unsubscribe();
    }
  });
});

describe.each(ADAPTERS)('DPoP refusals and risk over %s', (adapter) => {
  const ORIGIN = 'https://api.test';
  const LAPTOP = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
  const PHONE = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36';
  let demo: DemoHandle;
  const key = ecKey();
  beforeEach(async () => {
    // A trusted proxy (loopback) so the country header counts; deny out of reach so a risky context is a step-up.
    demo = await startDemo(adapter, {
      PUBLIC_URL: ORIGIN,
      TRUST_PROXY: '127.0.0.1/32,::1/128,::ffff:127.0.0.1/128',
      RISK_DENY_AT: '2',
      THROTTLE_LIMIT: '1000000',
      LOGIN_LIMIT: '1000000',
    });
  });
  afterEach(() => demo.close());

  const loginBound = async (country: string, ua: string) => {
    const res = await request(demo.server)
      .post('/auth/login')
      .set('CF-IPCountry', country)
      .set('User-Agent', ua)
      .set('DPoP', createDpopProof(key, { htm: 'POST', htu: `${ORIGIN}/auth/login` }))
      .send({ username: 'alice', password: 'alice-password' });
    expect(res.status).toBe(200);
    expect(res.body.token_type).toBe('DPoP');
    await demo.app.get(BackgroundWrites).settle();
    return res.body.access_token as string;
  };
  const meFrom = (token: string, dpop: string, country: string, ua: string) =>
    request(demo.server).get('/me').set('Authorization', `DPoP ${token}`).set('DPoP', dpop).set('CF-IPCountry', country).set('User-Agent', ua);

  it('a refused proof is recorded as a dpop_proof_invalid event, without the token or the proof', async () => {
    const token = await loginBound('FR', LAPTOP);
    const foreign = createDpopProof(ecKey(), { htm: 'GET', htu: `${ORIGIN}/me`, accessToken: token });
    const refused = await meFrom(token, foreign, 'FR', LAPTOP);
    expect(refused.status).toBe(401);
    expect(refused.body.code).toBe('invalid_dpop_proof');
    const admin = (await request(demo.server).post('/auth/login').send({ username: 'admin', password: 'admin-password' })).body.access_token;
    const listed = await request(demo.server).get('/admin/security-events?type=dpop_proof_invalid').set('Authorization', `Bearer ${admin}`);
    expect(listed.status).toBe(200);
    expect(listed.body.events).toHaveLength(1);
    expect(listed.body.events[0]).toMatchObject({ type: 'dpop_proof_invalid', sub: 'alice', reason: 'key_mismatch', details: { route: '/me' } });
    const text = JSON.stringify(listed.body.events[0]);
    const [h, p, sig] = token.split('.');
    for (const secret of [h, p, sig, ...foreign.split('.'), claimsOf(token).jti]) expect(text).not.toContain(secret);
    // The event stream sees the replay too (another reason, so not folded into the sample above).
    const seen: string[] = [];
    demo.app.get(SecurityEventService).events$.subscribe((event) => event.type === 'dpop_proof_invalid' && seen.push(event.reason ?? ''));
    const once = createDpopProof(key, { htm: 'GET', htu: `${ORIGIN}/me`, accessToken: token });
    expect((await meFrom(token, once, 'FR', LAPTOP)).status).toBe(200);
    expect((await meFrom(token, once, 'FR', LAPTOP)).body.code).toBe('invalid_dpop_proof');
    expect(seen).toEqual(['replay']);
  });

  it('a DPoP-bound token that meets a risk step-up gets the challenge in the DPoP scheme', async () => {
    const token = await loginBound('FR', LAPTOP);
    const proof = () => createDpopProof(key, { htm: 'GET', htu: `${ORIGIN}/me`, accessToken: token });
    expect((await meFrom(token, proof(), 'FR', LAPTOP)).status).toBe(200);
    const challenged = await meFrom(token, proof(), 'BR', PHONE);
    expect(challenged.status).toBe(401);
    expect(challenged.body.code).toBe('insufficient_user_authentication');
    expect(challenged.headers['www-authenticate']).toMatch(/^DPoP realm="api", algs="[^"]+", error="insufficient_user_authentication", max_age="0"$/);
  });
});

describe('DPoP required', () => {
  it('refuses plain bearer tokens with a DPoP challenge', async () => {
    const demo = await startDemo('express', { DPOP: 'required', PUBLIC_URL: 'https://api.example.test' });
    try {
      const plain = (await request(demo.server).post('/auth/login').send({ username: 'alice', password: 'alice-password' })).body.access_token;
      const res = await request(demo.server).get('/me').set('Authorization', `Bearer ${plain}`);
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('invalid_dpop_proof');
      expect(res.headers['www-authenticate']).toMatch(/^DPoP /);
      const missing = await request(demo.server).get('/me');
      expect(missing.headers['www-authenticate']).toMatch(/^DPoP realm="api", algs="/);
      // With PUBLIC_URL, htu is checked against the public origin whatever the Host header.
      const key = ecKey();
      const bound = (await request(demo.server).post('/auth/login').set('DPoP', createDpopProof(key, { htm: 'POST', htu: 'https://api.example.test/auth/login' })).send({ username: 'alice', password: 'alice-password' })).body.access_token;
      const ok = await request(demo.server).get('/me').set('Authorization', `DPoP ${bound}`).set('DPoP', createDpopProof(key, { htm: 'GET', htu: 'https://api.example.test/me', accessToken: bound }));
      expect(ok.status).toBe(200);
    } finally {
      await demo.close();
    }
  });
});

describe('DPoP-bound tokens of an external OpenID provider', () => {
  const AUDIENCE = 'https://api.test';
  const CLIENT = { clientId: 'svc', clientSecret: 'svc-secret-0123456789abcdef0123456789' };

  it('need a valid fresh proof; a replay fails on another instance sharing Redis', async () => {
    const op = await OidcProvider.start({ audience: AUDIENCE, ...CLIENT });
    const redis = await RedisServer.start();
    const keys = writeEs256KeyFiles();
    // The provider's CA: EXTERNAL_CA_FILE (NODE_EXTRA_CA_CERTS is only read when a process starts).
    const env = { EXTERNAL_ISSUER: op.issuer, EXTERNAL_AUDIENCE: AUDIENCE, EXTERNAL_CA_FILE: op.caFile, PUBLIC_URL: 'https://api.test', REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'dpop-ext:' };
    const a = await startDemo('express', env, keys);
    const b = await startDemo('fastify', env, keys);
    try {
      const key = ecKey();
      const { access_token: token, token_type: type } = await op.clientCredentialsToken({ dpopKey: key });
      expect(type).toBe('DPoP');
      const meAt = (demo: DemoHandle, dpop?: string, scheme = 'DPoP') => {
        const req = request(demo.server).get('/me').set('Authorization', `${scheme} ${token}`);
        return dpop ? req.set('DPoP', dpop) : req;
      };
      const fresh = () => createDpopProof(key, { htm: 'GET', htu: 'https://api.test/me', accessToken: token });
      const once = fresh();
      const ok = await meAt(a, once);
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ sub: 'svc', iss: op.issuer });
      expect((await meAt(b, once)).body.code).toBe('invalid_dpop_proof');
      expect((await meAt(b, fresh())).status).toBe(200);
      expect((await meAt(a)).body.code).toBe('invalid_dpop_proof');
      expect((await meAt(a, fresh(), 'Bearer')).body.code).toBe('invalid_dpop_proof');
    } finally {
      await Promise.all([a.close(), b.close()]);
      await redis.destroy();
      await op.stop();
    }
  }, 60_000);
});

describe.each(ADAPTERS)('DPoP server nonces over %s', (adapter) => {
  it('a proof without the current nonce is 401 use_dpop_nonce with DPoP-Nonce; with it, 200', async () => {
    const app = await startFixture(
      adapter,
      JwtDefenseModule.forRoot(fixtureOptions({ dpop: { nonce: true, publicUrl: 'https://api.test' }, revocation: { cleanupCron: false } })),
      [WhoamiController],
    );
    try {
      const key = ecKey();
      const token = (await app.get(TokenService).issue('alice', { cnf: { jkt: await thumbprint(key) } })).token;
      const call = (nonce?: string) =>
        request(app.getHttpServer())
          .get('/whoami')
          .set('Authorization', `DPoP ${token}`)
          .set('DPoP', createDpopProof(key, { htm: 'GET', htu: 'https://api.test/whoami', accessToken: token, nonce }));
      const first = await call();
      expect(first.status).toBe(401);
      expect(first.body.code).toBe('use_dpop_nonce');
      expect(first.headers['www-authenticate']).toMatch(/^DPoP realm="api", algs="[^"]+", error="use_dpop_nonce"$/);
      const nonce = first.headers['dpop-nonce'];
      expect(nonce).toMatch(/^[\w-]{32}$/);
      expect((await call('not-the-nonce')).body.code).toBe('use_dpop_nonce');
      const ok = await call(nonce);
      expect(ok.status).toBe(200);
      expect(ok.body.jkt).toBe(await thumbprint(key));
    } finally {
      await app.close();
    }
  });
});

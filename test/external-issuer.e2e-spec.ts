import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { BackgroundWrites, JwtDefenseModule, RevocationService, TokenService, type JwtDefenseModuleOptions } from '@jwt-defense/core';
import { ADAPTERS, startDemo } from './support/demo-app.js';
import { fixtureOptions, startFixture } from './fixtures/fixture.app.js';
import { WhoamiController } from './fixtures/whoami.controller.js';
import { signJws } from './support/jws.js';
import { OidcProvider } from './support/oidc-provider.js';

// Resource-server mode against a real OpenID provider (oidc-provider) started by the test, over HTTPS with a test CA.

const AUDIENCE = 'https://api.test';
const CLIENT = { clientId: 'svc', clientSecret: 'svc-secret-0123456789abcdef0123456789' };

describe.each(ADAPTERS)('tokens of an external OpenID provider over %s', (adapter) => {
  let op: OidcProvider;
  let app: INestApplication;
  const now = () => Math.floor(Date.now() / 1000);
  const external = (overrides: Record<string, unknown> = {}) => ({ issuer: op.issuer, audience: AUDIENCE, ca: op.caPem, jwksCooldownMs: 1000, ...overrides });
  const start = (options: Partial<JwtDefenseModuleOptions>) => startFixture(adapter, JwtDefenseModule.forRoot(fixtureOptions({ revocation: { cleanupCron: false }, ...options })), [WhoamiController]);
  const get = (path: string, token: string) => request(app.getHttpServer()).get(path).set('Authorization', `Bearer ${token}`);
  const claims = (overrides: Record<string, unknown> = {}) => ({ iss: op.issuer, aud: AUDIENCE, sub: 'user-1', jti: randomBytes(8).toString('hex'), iat: now(), exp: now() + 300, ...overrides });

  beforeAll(async () => {
    op = await OidcProvider.start({ audience: AUDIENCE, ...CLIENT });
    app = await start({ issuers: [external()] });
  }, 30_000);
  afterAll(async () => {
    await app?.close();
    await op?.stop();
  });

  it("accepts the provider's client-credentials access tokens, with sub, issuer, jti and scopes", async () => {
    const { access_token: token } = await op.clientCredentialsToken();
    const res = await get('/whoami', token);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ sub: 'svc', issuer: op.issuer, jti: expect.any(String), roles: ['api:read', 'api:write'], scopes: ['api:read', 'api:write'], jkt: null });
  });

  it('refuses a tampered token, another audience, another issuer and a lifetime over the profile', async () => {
    const { access_token: token } = await op.clientCredentialsToken();
    const [h, p, s] = token.split('.');
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'admin' })).toString('base64url')}.${s}`;
    expect((await get('/whoami', tampered)).body.code).toBe('signature_invalid');
    const other = await op.clientCredentialsToken({ resource: 'https://other.test' });
    expect((await get('/whoami', other.access_token)).body.code).toBe('claim_invalid');
    // An unknown issuer is checked as one of this module's tokens: its ES256 is not on our keys' allow-list.
    expect((await get('/whoami', op.signArbitraryToken(claims({ iss: 'https://evil.example' })))).status).toBe(401);
    expect((await get('/whoami', op.signArbitraryToken(claims({ exp: now() + 7200 })))).body.code).toBe('claim_invalid');
  });

  it('accepts typ JWT, no typ, and no jti where the profile allows (Cognito, Okta)', async () => {
    expect((await get('/whoami', op.signArbitraryToken(claims(), { typ: 'JWT' }))).status).toBe(200);
    expect((await get('/whoami', op.signArbitraryToken(claims(), { typ: undefined }))).status).toBe(200);
    const noJti = await get('/whoami', op.signArbitraryToken(claims({ jti: undefined })));
    expect(noJti.status).toBe(200);
    expect(noJti.body.jti).toBeNull();
    expect((await get('/whoami', op.signArbitraryToken(claims(), { typ: 'id+jwt' }))).body.code).toBe('claim_invalid');
    const strict = await start({ issuers: [external({ requireJti: true, types: ['at+jwt'] })] });
    try {
      const strictGet = (token: string) => request(strict.getHttpServer()).get('/whoami').set('Authorization', `Bearer ${token}`);
      expect((await strictGet(op.signArbitraryToken(claims({ jti: undefined })))).body.code).toBe('claim_invalid');
      expect((await strictGet(op.signArbitraryToken(claims(), { typ: 'JWT' }))).body.code).toBe('claim_invalid');
    } finally {
      await strict.close();
    }
  });

  it('accepts x5t and x5t#S256 as information only (Entra), never as a key source; refuses jwk, jku, x5u and x5c', async () => {
    const thumb = (bytes: number) => randomBytes(bytes).toString('base64url');
    const withX5t = await get('/whoami', op.signArbitraryToken(claims(), { x5t: thumb(20), 'x5t#S256': thumb(32) }));
    expect(withX5t.status).toBe(200);
    expect(withX5t.body.issuer).toBe(op.issuer);
    expect((await get('/whoami', op.signArbitraryToken(claims(), { x5t: thumb(20) }))).status).toBe(200);
    // An x5t naming some certificate does not make an attacker's key trusted: keys come from the JWKS alone.
    const { privateKey: attackerKey, publicKey: attackerPublic } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const kid = op.currentKey().kid;
    const forged = signJws({ alg: 'ES256', typ: 'at+jwt', kid, x5t: thumb(20) }, claims(), attackerKey, 'ES256');
    expect((await get('/whoami', forged)).body.code).toBe('signature_invalid');
    const attackerJwk = attackerPublic.export({ format: 'jwk' });
    for (const header of [{ jwk: attackerJwk }, { jku: `${op.issuer}/jwks` }, { x5u: `${op.issuer}/cert.pem` }, { x5c: [thumb(64)] }]) {
      // Signed by the provider's real key: the header member alone is refused, before any key lookup.
      const res = await get('/whoami', op.signArbitraryToken(claims(), header));
      expect(res.status).toBe(401);
      expect(res.body.code).toBe('token_malformed');
      // And with the attacker's key, as an attacker would send it.
      expect((await get('/whoami', signJws({ alg: 'ES256', typ: 'at+jwt', kid, ...header }, claims(), attackerKey, 'ES256'))).body.code).toBe('token_malformed');
    }
  });

  it('maps roles from where providers put them (a dot path), for @RequireRoles', async () => {
    const keycloak = await start({ issuers: [external({ roles: 'realm_access.roles' })] });
    try {
      const as = (roles: string[]) => request(keycloak.getHttpServer()).get('/whoami/admin').set('Authorization', `Bearer ${op.signArbitraryToken(claims({ realm_access: { roles } }))}`);
      expect((await as(['admin'])).status).toBe(200);
      const denied = await as(['user']);
      expect(denied.status).toBe(403);
      expect(denied.body.code).toBe('insufficient_scope');
    } finally {
      await keycloak.close();
    }
  });

  it('a flood of unknown kids causes at most a few JWKS fetches, and a key rotation at the provider is picked up', async () => {
    const before = await op.jwksRequestCount();
    for (let i = 0; i < 40; i++) {
      const res = await get('/whoami', op.signArbitraryToken(claims(), { kid: `unknown-${i}+/=${randomBytes(4).toString('hex')}` }));
      expect(res.body.code).toBe('signature_invalid');
    }
    expect((await op.jwksRequestCount()) - before).toBeLessThanOrEqual(2);
    await op.rotateKeys();
    await new Promise((resolve) => setTimeout(resolve, 1100)); // past the refetch cooldown
    const rotated = await op.clientCredentialsToken();
    expect((await get('/whoami', rotated.access_token)).status).toBe(200);
  });

  it("keeps users of two issuers apart: revoking this module's `svc` does not touch the provider's `svc`", async () => {
    const { access_token: token } = await op.clientCredentialsToken();
    const own = (await app.get(TokenService).issue('svc')).token;
    await new Promise((resolve) => setTimeout(resolve, 2));
    await app.get(RevocationService).revokeAllForUser('svc', 'own user');
    expect((await get('/whoami', token)).status).toBe(200);
    expect((await get('/whoami', own)).body.code).toBe('token_revoked');
    await app.get(RevocationService).revokeAllForUser(`${op.issuer} svc`, 'provider user');
    expect((await get('/whoami', token)).body.code).toBe('token_revoked');
  });
});

describe.each(ADAPTERS)('an external issuer that cannot be reached, over %s', (adapter) => {
  it('answers 503 issuer_unavailable for a kid it has no cached key for, and keeps known keys working', async () => {
    const op = await OidcProvider.start({ audience: AUDIENCE, ...CLIENT });
    const app = await startFixture(
      adapter,
      JwtDefenseModule.forRoot(fixtureOptions({ issuers: [{ issuer: op.issuer, audience: AUDIENCE, ca: op.caPem, jwksCooldownMs: 1000 }], revocation: { cleanupCron: false } })),
      [WhoamiController],
    );
    try {
      const known = (await op.clientCredentialsToken()).access_token;
      expect((await request(app.getHttpServer()).get('/whoami').set('Authorization', `Bearer ${known}`)).status).toBe(200);
      // Issued by the provider with the same (already fetched) key before it stops, and never sent before: it
      // is not in the verified-token cache, so only the cached JWKS can verify it once the provider is gone.
      const unseen = (await op.clientCredentialsToken()).access_token;
      expect(unseen).not.toBe(known);
      const kidOf = (token: string) => JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString()).kid;
      expect(kidOf(unseen)).toBe(kidOf(known));
      const unknownKid = op.signArbitraryToken({ iss: op.issuer, aud: AUDIENCE, sub: 'u', iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 60 }, { kid: 'never-published' });
      await op.stop();
      await new Promise((resolve) => setTimeout(resolve, 1100)); // past the refetch cooldown
      const unavailable = await request(app.getHttpServer()).get('/whoami').set('Authorization', `Bearer ${unknownKid}`);
      expect(unavailable.status).toBe(503);
      expect(unavailable.body.code).toBe('issuer_unavailable');
      expect(Number(unavailable.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      // Known keys keep working from the JWKS cache: a token first seen now, signed by a key fetched before.
      const fromCache = await request(app.getHttpServer()).get('/whoami').set('Authorization', `Bearer ${unseen}`);
      expect(fromCache.status).toBe(200);
      expect(fromCache.body.sub).toBe('svc');
      expect(fromCache.body.jti).toBe(JSON.parse(Buffer.from(unseen.split('.')[1], 'base64url').toString()).jti);
    } finally {
      await app.close();
      await op.stop();
    }
  }, 30_000);
});

describe.each(ADAPTERS)('context risk with tokens of an external provider over %s', (adapter) => {
  it("a step-up is passed by re-authenticating at the provider: a token whose auth_time is later than the challenge", async () => {
    const op = await OidcProvider.start({ audience: AUDIENCE, ...CLIENT });
    const demo = await startDemo(adapter, {
      EXTERNAL_ISSUER: op.issuer,
      EXTERNAL_AUDIENCE: AUDIENCE,
      EXTERNAL_CA_FILE: op.caFile,
      TRUST_PROXY: '127.0.0.1/32,::1/128,::ffff:127.0.0.1/128',
      RISK_DENY_AT: '2',
      THROTTLE_LIMIT: '100000',
    });
    try {
      const nowSec = () => Math.floor(Date.now() / 1000);
      const loginAt = nowSec() - 30;
      const first = (await op.clientCredentialsToken({ extraClaims: { auth_time: loginAt } })).access_token;
      const from = (token: string, country: string, ua: string) =>
        request(demo.server).get('/me').set('Authorization', `Bearer ${token}`).set('CF-IPCountry', country).set('User-Agent', ua);
      expect((await from(first, 'FR', 'laptop-browser')).status).toBe(200);
      await demo.app.get(BackgroundWrites).settle();
      const challenged = await from(first, 'BR', 'phone-app');
      expect(challenged.status).toBe(401);
      expect(challenged.body.code).toBe('insufficient_user_authentication');
      await new Promise((resolve) => setTimeout(resolve, 1100));
      // Re-authenticated at the provider after the challenge: passes, and its context is learned.
      const fresh = (await op.clientCredentialsToken({ extraClaims: { auth_time: nowSec() } })).access_token;
      expect((await from(fresh, 'BR', 'phone-app')).status).toBe(200);
      // A token authenticated before the challenge never passes there, however fresh the token itself.
      const stale = (await op.clientCredentialsToken({ extraClaims: { auth_time: loginAt } })).access_token;
      const refused = await from(stale, 'CN', 'other-app');
      expect(refused.status).toBe(401);
    } finally {
      await demo.close();
      await op.stop();
    }
  }, 30_000);
});

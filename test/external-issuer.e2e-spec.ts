import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { JwtDefenseModule, RevocationService, TokenService, type JwtDefenseModuleOptions } from '@jwt-defense/core';
import { BackgroundWrites } from '../libs/jwt-defense/src/common/background-writes.js';
import { resolveJwtDefenseOptions } from '../libs/jwt-defense/src/jwt-defense.options.js';
import { ADAPTERS, startDemo } from './support/demo-app.js';
import { fixtureOptions, startFixture } from './fixtures/fixture.app.js';
import { WhoamiController } from './fixtures/whoami.controller.js';
import { signJws } from './support/jws.js';
import { OidcProvider } from './support/oidc-provider.js';

// Resource-server mode against a real OpenID provider (oidc-provider) started by the test, over HTTPS with a test CA.

const AUDIENCE = 'https://api.test';
const CLIENT = { clientId: 'svc', clientSecret: 'svc-secret-0123456789abcdef0123456789' };
// The provider's web client has this API's audience as its client id (Entra and Cognito APIs often do): its ID tokens
// then carry `aud` = this API's audience, the shape an ID token must be refused in.
const PROVIDER = { audience: AUDIENCE, ...CLIENT, webClientId: AUDIENCE };

/** A 401 that names the code and the challenge, and echoes nothing of the token. */
function expectRefused(res: request.Response, code: string, token: string): void {
  expect({ status: res.status, code: res.body.code }).toEqual({ status: 401, code });
  expect(res.headers['www-authenticate']).toBe('Bearer realm="api", error="invalid_token"');
  const answer = JSON.stringify(res.body) + JSON.stringify(res.headers);
  for (const part of token.split('.')) expect(answer).not.toContain(part);
}

describe.each(ADAPTERS)('tokens of an external OpenID provider over %s', (adapter) => {
  let op: OidcProvider;
  let app: INestApplication;
  const now = () => Math.floor(Date.now() / 1000);
  const external = (overrides: Record<string, unknown> = {}) => ({ issuer: op.issuer, audience: AUDIENCE, ca: op.caPem, jwksCooldownMs: 1000, ...overrides });
  const start = (options: Partial<JwtDefenseModuleOptions>) => startFixture(adapter, JwtDefenseModule.forRoot(fixtureOptions({ revocation: { cleanupCron: false }, ...options })), [WhoamiController]);
  const get = (path: string, token: string) => request(app.getHttpServer()).get(path).set('Authorization', `Bearer ${token}`);
  const claims = (overrides: Record<string, unknown> = {}) => ({ iss: op.issuer, aud: AUDIENCE, sub: 'user-1', jti: randomBytes(8).toString('hex'), iat: now(), exp: now() + 300, ...overrides });

  beforeAll(async () => {
    op = await OidcProvider.start(PROVIDER);
    app = await start({ issuers: [external()] });
  }, 30_000);
  afterAll(async () => {
    await app?.close();
    await op?.stop();
  });

  it("accepts the provider's client-credentials access tokens, with sub, issuer, jti and scopes (scopes are not roles)", async () => {
    const { access_token: token } = await op.clientCredentialsToken();
    const res = await get('/whoami', token);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ sub: 'svc', issuer: op.issuer, jti: expect.any(String), roles: [], scopes: ['api:read', 'api:write'], jkt: null });
  });

  it('never makes a scope a role: a token whose scope or scp holds `admin` has no role admin; roles come from `roles`', async () => {
    const asAdmin = async (extra: Record<string, unknown>) => get('/whoami/admin', op.signArbitraryToken(claims(extra)));
    for (const scopes of [{ scope: 'admin' }, { scp: 'admin' }, { scp: ['admin', 'api:read'] }]) {
      const denied = await asAdmin(scopes);
      expect({ scopes, status: denied.status, code: denied.body.code }).toEqual({ scopes, status: 403, code: 'insufficient_scope' });
      const seen = await get('/whoami', op.signArbitraryToken(claims(scopes)));
      expect(seen.body.roles).toEqual([]);
    }
    expect((await asAdmin({ roles: ['admin'], scope: 'api:read' })).status).toBe(200);
    // A roles claim given as one string (some providers do) is split on spaces, as before.
    expect((await asAdmin({ roles: 'user admin' })).status).toBe(200);
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
    // The provider's user is named by its issuer, never by a subject spelled like a key.
    await app.get(RevocationService).revokeAllForUser(`${op.issuer} svc`, 'a local user named like the provider user');
    expect((await get('/whoami', token)).status).toBe(200);
    await app.get(RevocationService).revokeAllForUser('svc', 'provider user', 'oncall', op.issuer);
    expect((await get('/whoami', token)).body.code).toBe('token_revoked');
  });

  it('refuses real OpenID ID tokens of the provider (code, hybrid and implicit flows) whose aud is this API, and accepts the access token of the same login', async () => {
    for (const responseType of ['code', 'code id_token', 'id_token', 'id_token token'] as const) {
      const login = await op.login({ responseType, sub: 'user-7' });
      const payload = JSON.parse(Buffer.from(login.id_token.split('.')[1], 'base64url').toString());
      // What makes it the shape of the finding: this API's audience, signed by the provider's published key.
      expect({ responseType, aud: payload.aud, iss: payload.iss, nonce: typeof payload.nonce }).toEqual({ responseType, aud: AUDIENCE, iss: op.issuer, nonce: 'string' });
      expectRefused(await get('/whoami', login.id_token), 'claim_invalid', login.id_token);
      if (login.access_token) {
        const res = await get('/whoami', login.access_token);
        expect({ status: res.status, sub: res.body.sub }).toEqual({ status: 200, sub: 'user-7' });
      }
    }
  });

  it('tells ID tokens from access tokens as providers issue them (Keycloak, Auth0, Okta, Cognito, Entra)', async () => {
    const at = (extra: Record<string, unknown>, header: Record<string, unknown> = {}) => op.signArbitraryToken(claims(extra), header);
    const idTokens: Array<[string, string]> = [
      // The finding: typ JWT, nonce, at_hash and azp of another client, aud this API.
      ['an ID token with at_hash, azp another client', at({ nonce: 'n-1', at_hash: 'x', azp: 'spa', jti: undefined }, { typ: 'JWT' })],
      ['c_hash (hybrid flow)', at({ c_hash: 'x' }, { typ: undefined })],
      ['s_hash (FAPI)', at({ s_hash: 'x' }, { typ: undefined })],
      ['Keycloak: typ claim ID, no nonce, no hash', at({ typ: 'ID', azp: 'spa' }, { typ: 'JWT' })],
      ['Cognito: token_use id', at({ token_use: 'id', auth_time: now() }, { typ: undefined })],
      ['Keycloak: nonce, aud equal to azp', at({ nonce: 'n-2', aud: AUDIENCE, azp: AUDIENCE }, { typ: 'JWT' })],
      ['nonce, azp among several audiences', at({ nonce: 'n-3', aud: ['spa', AUDIENCE], azp: 'spa' }, { typ: 'JWT' })],
      ['Auth0, Okta, Entra: nonce and no azp', at({ nonce: 'n-4', sid: 's-1' }, { typ: undefined })],
      ['Okta: jti ID., at_hash', at({ jti: 'ID.abc', nonce: 'n-5', at_hash: 'x', ver: 1 }, { typ: undefined })],
    ];
    for (const [name, token] of idTokens) {
      const res = await get('/whoami', token);
      expect({ name, status: res.status, code: res.body.code }).toEqual({ name, status: 401, code: 'claim_invalid' });
      expectRefused(res, 'claim_invalid', token);
    }
    const accessTokens: Array<[string, string]> = [
      // Keycloak before 25 copies the login's nonce into access tokens: azp is the client, aud the API, typ Bearer.
      ['Keycloak < 25 access token', at({ nonce: 'n-6', azp: 'spa', typ: 'Bearer', aud: [AUDIENCE, 'account'] }, { typ: 'JWT' })],
      ['Keycloak < 25, the client is the API', at({ nonce: 'n-7', azp: AUDIENCE, typ: 'Bearer' }, { typ: 'JWT' })],
      ['nonce, azp another client (not an audience)', at({ nonce: 'n-8', azp: 'spa' }, { typ: 'JWT' })],
      ['Auth0 access token', at({ azp: 'spa', scope: 'openid read:orders', aud: [AUDIENCE, 'https://tenant.example/userinfo'] }, { typ: 'JWT' })],
      ['Okta access token', at({ jti: 'AT.abc', cid: '0oa1', uid: '00u1', scp: ['orders:read'], ver: 1 }, { typ: undefined })],
      ['Cognito access token', at({ token_use: 'access', client_id: 'c1', scope: 'orders/read' }, { typ: undefined })],
      ['Entra v2 access token', at({ azp: 'c1', azpacr: '0', scp: 'access_as_user', ver: '2.0', tid: 't' }, { typ: 'JWT' })],
    ];
    for (const [name, token] of accessTokens) expect({ name, status: (await get('/whoami', token)).status }).toEqual({ name, status: 200 });
  });

  it('issuers[].clients: only tokens issued to a listed client (client_id, azp, cid, appid), and never an ID token', async () => {
    const listed = await start({ issuers: [external({ clients: ['svc', 'spa'] })] });
    try {
      const listedGet = (token: string) => request(listed.getHttpServer()).get('/whoami').set('Authorization', `Bearer ${token}`);
      expect((await listedGet((await op.clientCredentialsToken()).access_token)).status).toBe(200);
      for (const extra of [{ azp: 'spa' }, { cid: 'spa' }, { appid: 'svc' }, { client_id: 'svc', azp: 'svc' }]) {
        expect({ extra, status: (await listedGet(op.signArbitraryToken(claims(extra)))).status }).toEqual({ extra, status: 200 });
      }
      for (const extra of [{}, { azp: 'other' }, { client_id: 'svc', azp: 'other' }, { cid: 7 }, { appid: ['svc'] }]) {
        const token = op.signArbitraryToken(claims(extra));
        expectRefused(await listedGet(token), 'claim_invalid', token);
      }
      // The implicit flow's access token was issued to the web client: not listed here.
      const login = await op.login({ responseType: 'id_token token' });
      expectRefused(await listedGet(login.access_token!), 'claim_invalid', login.access_token!);
      // A code-flow ID token requested without a nonce has none of an ID token's marks, and names no client.
      const bare = await op.login({ responseType: 'code', nonce: null });
      expectRefused(await listedGet(bare.id_token), 'claim_invalid', bare.id_token);
    } finally {
      await listed.close();
    }
  });

  it("throttle.userBy reads the provider's claims as its own: a machine client's limit by client_id (Cognito's), the default for another", async () => {
    const byClient = await start({
      issuers: [external()],
      throttle: { ip: { limit: 10_000, ttlMs: 60_000 }, user: { limit: 3, ttlMs: 60_000 }, userBy: { claim: 'client_id', limits: { svc: { limit: 2, ttlMs: 60_000 } } } },
    });
    try {
      const statuses = async (token: string) => {
        const seen: number[] = [];
        for (let i = 0; i < 4; i++) seen.push((await request(byClient.getHttpServer()).get('/whoami').set('Authorization', `Bearer ${token}`)).status);
        return seen;
      };
      expect(await statuses((await op.clientCredentialsToken()).access_token)).toEqual([200, 200, 429, 429]);
      expect(await statuses(op.signArbitraryToken(claims({ sub: 'user-2', client_id: 'spa' })))).toEqual([200, 200, 200, 429]);
    } finally {
      await byClient.close();
    }
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

import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { JwtDefenseModule, RefreshTokenService, RevocationService, TokenService } from '@jwt-defense/core';
import { ADAPTERS, startDemo, type DemoHandle } from './support/demo-app.js';
import { admin, login, me } from './support/demo-client.js';
import { FIXTURE_SECRET, fixtureOptions, startFixture } from './fixtures/fixture.app.js';
import { WhoamiController } from './fixtures/whoami.controller.js';
import { signJws } from './support/jws.js';
import { OidcProvider } from './support/oidc-provider.js';
import { RedisServer } from './support/redis-server.js';

// Per-user state is keyed by (issuer, subject) without ambiguity (#20 M7): a local user whose sub is spelled like an
// external user's old key ("<iss> <sub>") shares nothing with that external user, on every store; incident actions
// name an external user by its issuer.

const AUDIENCE = 'https://api.test';
const CLIENT = { clientId: 'svc', clientSecret: 'svc-secret-0123456789abcdef0123456789' };
const USER_LIMIT = 3;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const nowSec = () => Math.floor(Date.now() / 1000);

let op: OidcProvider;
let redis: RedisServer;
let suite = 0;
beforeAll(async () => {
  [op, redis] = await Promise.all([OidcProvider.start({ audience: AUDIENCE, ...CLIENT }), RedisServer.start()]);
}, 30_000);
afterAll(async () => {
  await Promise.all([op?.stop(), redis?.destroy()]);
});

/** A token of the provider for `sub` (signed with its published key), with a jti. */
const external = (sub: string, extra: Record<string, unknown> = {}) =>
  op.signArbitraryToken({ iss: op.issuer, aud: AUDIENCE, sub, jti: randomBytes(8).toString('hex'), iat: nowSec(), exp: nowSec() + 300, ...extra });
const jtiOf = (token: string): string => JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).jti;

const STORES: Array<[string, () => Record<string, unknown>]> = [
  ['memory store', () => ({})],
  ['redis', () => ({ store: { type: 'redis', connection: redis.url, keyPrefix: `subjects${suite++}:` } })],
];

describe.each(ADAPTERS)('per-user state keyed by issuer and subject, over %s', (adapter) => {
  describe.each(STORES)('on the %s', (_store, storeOptions) => {
    let app: INestApplication;
    beforeAll(async () => {
      app = await startFixture(
        adapter,
        JwtDefenseModule.forRoot(
          fixtureOptions({
            issuers: [{ issuer: op.issuer, audience: AUDIENCE, ca: op.caPem }],
            throttle: { ip: false, user: { limit: USER_LIMIT, ttlMs: 60_000 } },
            revocation: { cleanupCron: false },
            ...storeOptions(),
          }),
        ),
        [WhoamiController],
      );
    });
    afterAll(() => app?.close());
    const get = (token: string) => request(app.getHttpServer()).get('/whoami').set('Authorization', `Bearer ${token}`);
    const own = async (sub: string) => (await app.get(TokenService).issue(sub)).token;
    const revocation = () => app.get(RevocationService);

    it("a local user named `<iss> <sub>` does not drain the provider user's rate limit", async () => {
      const local = await own(`${op.issuer} carol`);
      for (let i = 0; i < USER_LIMIT; i++) expect((await get(local)).status).toBe(200);
      expect((await get(local)).status).toBe(429);
      const provider = external('carol');
      for (let i = 0; i < USER_LIMIT; i++) expect((await get(provider)).status).toBe(200);
      expect((await get(provider)).status).toBe(429);
    });

    it("revoking the local `<iss> <sub>` leaves the provider's `<sub>` alone; revoking the provider's (by its issuer) leaves the local one", async () => {
      const lookalike = `${op.issuer} dave`;
      const provider = external('dave');
      const before = await own(lookalike);
      await sleep(2);
      await revocation().revokeAllForUser(lookalike, 'local user');
      expect((await get(before)).body.code).toBe('token_revoked');
      expect((await get(provider)).status).toBe(200);

      const local = await own(lookalike);
      await sleep(2);
      await revocation().revokeAllForUser('dave', 'provider user', 'oncall', op.issuer);
      expect((await get(provider)).body.code).toBe('token_revoked');
      expect((await get(local)).status).toBe(200);
      // What the provider issues after the revocation works.
      expect((await get(external('dave', { iat: nowSec() + 2 }))).status).toBe(200);
    });

    it("a jti of the provider is revoked under its user with { sub, iss }, and read back the same way", async () => {
      const provider = external('erin');
      const jti = jtiOf(provider);
      expect((await get(provider)).status).toBe(200);
      await expect(revocation().revoke(jti, { reason: 'leaked', sub: 'erin', iss: op.issuer })).resolves.toBe(true);
      expect((await get(provider)).body.code).toBe('token_revoked');
      await expect(revocation().getRevocationInfo(jti, 'erin', op.issuer)).resolves.toMatchObject({ reason: 'leaked' });
      await expect(revocation().isRevoked(jti, 'erin')).resolves.toBe(false);
      // Without its subject, a jti of another issuer has no user to be recorded under.
      await expect(revocation().revoke(jtiOf(external('erin')), { reason: 'x', iss: op.issuer })).rejects.toMatchObject({ code: 'subject_required' });
    });

    it("this module's subjects never hold a control character: refused at issue, a token carrying one is refused, and no revocation names one", async () => {
      const provider = external('frank');
      const key = `${op.issuer}\u001ffrank`;
      await expect(app.get(TokenService).issue(key)).rejects.toThrow(TypeError);
      await expect(app.get(RefreshTokenService).issuePair('frank\u009b31m')).rejects.toThrow(TypeError);
      for (const sub of [key, 'frank\u001b[2J', 'frank\u0085', 'a\u0000b']) {
        const forged = signJws(
          { alg: 'HS256', typ: 'at+jwt', kid: 'fixture-hs' },
          { iss: 'fixture', aud: 'fixture-api', sub, jti: randomBytes(8).toString('hex'), iat: nowSec(), exp: nowSec() + 60 },
          FIXTURE_SECRET,
          'HS256',
        );
        const res = await get(forged);
        expect({ sub, status: res.status, code: res.body.code }).toEqual({ sub, status: 401, code: 'claim_invalid' });
        expect(res.headers['www-authenticate']).toBe('Bearer realm="api", error="invalid_token"');
      }
      await expect(revocation().revokeAllForUser(key, 'spelled like the key')).rejects.toMatchObject({ code: 'invalid_request' });
      await expect(revocation().revoke(jtiOf(provider), { reason: 'x', sub: key })).rejects.toMatchObject({ code: 'invalid_request' });
      await expect(revocation().revokeAllForUser('frank', 'x', undefined, 'https://unknown.example')).rejects.toMatchObject({ code: 'invalid_request' });
      expect((await get(provider)).status).toBe(200);
    });
  });
});

const DEMO_STORES: Array<[string, () => Record<string, string>]> = [
  ['memory store', () => ({})],
  ['redis', () => ({ REDIS_URL: redis.url, REDIS_KEY_PREFIX: `subjects${suite++}:` })],
];

describe.each(ADAPTERS)('the demo with an external issuer over %s', (adapter) => {
  describe.each(DEMO_STORES)('on the %s', (_store, storeEnv) => {
    let demo: DemoHandle;
    let adminToken: string;
    beforeAll(async () => {
      demo = await startDemo(adapter, {
        EXTERNAL_ISSUER: op.issuer,
        EXTERNAL_AUDIENCE: AUDIENCE,
        EXTERNAL_CA_FILE: op.caFile,
        THROTTLE_LIMIT: '100000',
        LOGIN_LIMIT: '100000',
        ...storeEnv(),
      });
      adminToken = (await login(demo, 'admin')).access_token;
    });
    afterAll(() => demo?.close());
    const revokeAll = (sub: string, body: object) => admin(demo, adminToken, 'post', `/admin/users/${encodeURIComponent(sub)}/revoke-all`, body);

    it('POST /admin/users/:sub/revoke-all {reason, iss?}: iss names the provider user; a local sub spelled like a key never reaches it', async () => {
      const provider = external('gina');
      const alice = (await login(demo, 'alice')).access_token;
      expect((await me(demo, provider)).status).toBe(200);
      expect((await revokeAll(`${op.issuer} gina`, { reason: 'lookalike' })).status).toBe(200);
      expect((await revokeAll('gina', { reason: 'own user' })).status).toBe(200);
      expect((await me(demo, provider)).status).toBe(200);

      for (const [sub, body] of [
        ['gina', { reason: 'x', iss: 'https://unknown.example' }],
        [`${op.issuer}\u001fgina`, { reason: 'x' }],
        ['gina\u001b[2J', { reason: 'x' }],
      ] as const) {
        const res = await revokeAll(sub, body);
        expect({ sub, status: res.status, code: res.body.code }).toEqual({ sub, status: 400, code: 'invalid_request' });
      }
      expect((await me(demo, provider)).status).toBe(200);

      const res = await revokeAll('gina', { reason: 'provider user', iss: op.issuer });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ sub: 'gina', iss: op.issuer, revoked_before: expect.stringMatching(/^\d{4}-/) });
      expect((await me(demo, provider)).body.code).toBe('token_revoked');
      expect((await me(demo, alice)).status).toBe(200);

      // The demo's own issuer names its local user, as no iss does: alice's own token is refused, the provider's alice is not.
      const providerAlice = external('alice');
      const ownIssuer = JSON.parse(Buffer.from(alice.split('.')[1], 'base64url').toString()).iss;
      expect((await revokeAll('alice', { reason: 'own issuer named', iss: ownIssuer })).status).toBe(200);
      expect((await me(demo, alice)).body.code).toBe('token_revoked');
      expect((await me(demo, providerAlice)).status).toBe(200);
    });

    it('POST /admin/tokens/:jti/revoke {reason, sub, iss}: a token of the provider is denylisted under its user', async () => {
      const provider = external('hugo');
      const other = external('hugo');
      const path = `/admin/tokens/${jtiOf(provider)}/revoke`;
      const missing = await admin(demo, adminToken, 'post', path, { reason: 'leaked', iss: op.issuer });
      expect({ status: missing.status, code: missing.body.code }).toEqual({ status: 400, code: 'subject_required' });
      const res = await admin(demo, adminToken, 'post', path, { reason: 'leaked', sub: 'hugo', iss: op.issuer });
      expect(res.body).toEqual({ jti: jtiOf(provider), revoked: true, already_revoked: false });
      expect((await me(demo, provider)).body.code).toBe('token_revoked');
      expect((await me(demo, other)).status).toBe(200);
    });

    it("POST /auth/logout with a provider's token revokes that token", async () => {
      const provider = external('iris');
      expect((await request(demo.server).post('/auth/logout').set('Authorization', `Bearer ${provider}`)).status).toBe(204);
      expect((await me(demo, provider)).body.code).toBe('token_revoked');
      expect((await me(demo, external('iris'))).status).toBe(200);
    });

    it("a provider token whose scope is `admin` is no admin (scopes are never roles); its `roles` claim is", async () => {
      for (const scopes of [{ scope: 'admin' }, { scp: ['admin'] }]) {
        const res = await request(demo.server).get('/admin/security-events').set('Authorization', `Bearer ${external('jack', scopes)}`);
        expect({ scopes, status: res.status, code: res.body.code }).toEqual({ scopes, status: 403, code: 'insufficient_scope' });
      }
      const withRole = await request(demo.server).get('/admin/security-events').set('Authorization', `Bearer ${external('jack', { roles: ['admin'] })}`);
      expect(withRole.status).toBe(200);
      expect((await me(demo, external('jack', { scope: 'admin' }))).body).toMatchObject({ sub: 'jack', roles: [], iss: op.issuer });
    });
  });
});

import { randomBytes } from 'node:crypto';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { IncidentService, JwtDefenseErrors, JwtDefenseModule, RefreshTokenService, TokenService, type DefenseStore } from '@jwt-defense/core';
import { EXIT, runCli } from '../libs/jwt-defense/src/cli/cli.js';
import { RedisServer } from './support/redis-server.js';
import { DefenseStore as DEFENSE_STORE } from '../libs/jwt-defense/src/store/defense-store.ports.js';
import { resolveJwtDefenseOptions } from '../libs/jwt-defense/src/jwt-defense.options.js';
import { ADAPTERS } from './support/demo-app.js';
import { FIXTURE_SECRET, startFixture } from './fixtures/fixture.app.js';
import { WhoamiController } from './fixtures/whoami.controller.js';
import { signJws } from './support/jws.js';
import { OidcProvider } from './support/oidc-provider.js';

// #22 item 2: an API that only accepts its identity provider's tokens configures its issuer(s) and no keys of its own.

const AUDIENCE = 'https://api.test';
const CLIENT = { clientId: 'svc', clientSecret: 'svc-secret-0123456789abcdef0123456789' };

describe('options of a provider-only resource server', () => {
  const issuer = { issuer: 'https://idp.example', audience: AUDIENCE };

  it('boot with issuers and no token at all, or a token without keys (its lifetimes and cache still apply)', () => {
    expect(resolveJwtDefenseOptions({ issuers: [issuer] }).token.keys).toEqual([]);
    expect(resolveJwtDefenseOptions({ issuers: [issuer], token: { maxTokenBytes: 16_384 } }).token.maxTokenBytes).toBe(16_384);
  });

  it('refuse neither keys nor issuers, naming token (or token.keys) and both ways to fix it', () => {
    expect(() => resolveJwtDefenseOptions({})).toThrow(/^jwt-defense: invalid options: token is missing and no issuers are listed: give token \{ issuer, audience, keys \}.*issuers: \[\{ issuer, audience \}\]/);
    expect(() => resolveJwtDefenseOptions({ issuers: [] })).toThrow(/token is missing and no issuers are listed/);
    expect(() => resolveJwtDefenseOptions({ token: { issuer: 'me', audience: 'api', keys: [] } })).toThrow(/token\.keys is empty and no issuers are listed/);
  });

  it('still require issuer and audience beside own keys', () => {
    const keys = [{ kid: 'k1', algorithms: ['HS256' as const], secret: FIXTURE_SECRET }];
    expect(() => resolveJwtDefenseOptions({ token: { audience: 'api', keys } })).toThrow(/token\.issuer is required with token\.keys/);
    expect(() => resolveJwtDefenseOptions({ token: { issuer: 'me', keys } })).toThrow(/token\.audience must be a non-empty string/);
    expect(() => resolveJwtDefenseOptions({ issuers: [issuer], token: { issuer: 'me', keys } })).toThrow(/token\.audience/);
  });
});

describe.each(ADAPTERS)('a provider-only resource server over %s', (adapter) => {
  let op: OidcProvider;
  let app: INestApplication;
  const get = (path: string, token: string) => request(app.getHttpServer()).get(path).set('Authorization', `Bearer ${token}`);

  beforeAll(async () => {
    op = await OidcProvider.start({ audience: AUDIENCE, ...CLIENT });
    app = await startFixture(
      adapter,
      JwtDefenseModule.forRoot({ issuers: [{ issuer: op.issuer, audience: AUDIENCE, ca: op.caPem }], revocation: { cleanupCron: false } }),
      [WhoamiController],
    );
  }, 30_000);
  afterAll(async () => {
    await app?.close();
    await op?.stop();
  });

  it("accepts its provider's access tokens through the whole pipeline, and answers 401 without a token", async () => {
    const { access_token: token } = await op.clientCredentialsToken();
    const res = await get('/whoami', token);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ sub: 'svc', issuer: op.issuer, scopes: ['api:read', 'api:write'] });
    const missing = await request(app.getHttpServer()).get('/whoami');
    expect({ status: missing.status, code: missing.body.code }).toEqual({ status: 401, code: 'token_missing' });
  });

  it('refuses a token that claims to be its own (there is no own key to check it with)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: 'fixture', aud: 'fixture-api', sub: 'mallory', jti: randomBytes(8).toString('hex'), iat: now, exp: now + 300 };
    const forged = signJws({ alg: 'HS256', typ: 'at+jwt', kid: 'fixture-hs' }, claims, FIXTURE_SECRET, 'HS256');
    const res = await get('/whoami', forged);
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer realm="api", error="invalid_token"/);
  });

  it('issues nothing: issue(), issuePair() and rotateKey() throw naming token.keys, and issuePair() stores no session', async () => {
    const tokens = app.get(TokenService);
    expect(tokens.hasOwnKeys).toBe(false);
    expect(tokens.issuer).toBeUndefined();
    await expect(tokens.issue('alice')).rejects.toThrow(/token\.keys is empty/);
    const store = app.get<DefenseStore>(DEFENSE_STORE);
    const createSession = jest.spyOn(store, 'createSession');
    try {
      await expect(app.get(RefreshTokenService).issuePair('alice')).rejects.toThrow(/token\.keys is empty/);
      expect(createSession).not.toHaveBeenCalled();
    } finally {
      createSession.mockRestore();
    }
    await expect(app.get(IncidentService).rotateKey({ actor: 'test', reason: 'drill' })).rejects.toThrow(/token\.keys is empty/);
  });

  it('publishes an empty JWKS', () => {
    expect(app.get(TokenService).getJwks()).toEqual({ keys: [] });
  });
});

describe('naming a user in a provider-only API (no local users), with the app and the CLI on one real Redis', () => {
  let op: OidcProvider;
  let redis: RedisServer;
  let app: INestApplication;
  const PREFIX = 'provider-only:';

  beforeAll(async () => {
    op = await OidcProvider.start({ audience: AUDIENCE, ...CLIENT });
    redis = await RedisServer.start();
    app = await startFixture(
      'express',
      JwtDefenseModule.forRoot({
        // token.issuer without keys names no local users either.
        token: { issuer: 'https://api.example' },
        issuers: [{ issuer: op.issuer, audience: AUDIENCE, ca: op.caPem }],
        store: { type: 'redis', connection: redis.url, keyPrefix: PREFIX },
        revocation: { cleanupCron: false },
      }),
      [WhoamiController],
    );
  }, 30_000);
  afterAll(async () => {
    await app?.close();
    await redis?.destroy();
    await op?.stop();
  });

  const cli = async (...argv: string[]) => {
    let err = '';
    let out = '';
    const code = await runCli(['--redis', redis.url, '--prefix', PREFIX, ...argv], { out: (text) => (out += text), err: (text) => (err += text), env: {} });
    return { code, out, err };
  };

  it('a bare subject is refused (400 invalid_request in the incident API, a usage error in the CLI) instead of revoking nobody', async () => {
    const incident = app.get(IncidentService);
    await expect(incident.revokeUser('svc', { reason: 'test' })).rejects.toBeInstanceOf(JwtDefenseErrors.InvalidRequestException);
    await expect(incident.revokeUser('svc', { reason: 'test', iss: 'https://api.example' })).rejects.toBeInstanceOf(JwtDefenseErrors.InvalidRequestException);
    const bare = await cli('revoke-user', 'svc', '--reason', 'test');
    expect([bare.code, bare.out]).toEqual([EXIT.usage, '']);
    expect(bare.err).toContain('the app has no local users (no token.keys): name the user\'s issuer with --issuer');
    expect(bare.err).toContain(op.issuer);
    expect((await cli('revoke-token', 'some-jti', '--sub', 'svc', '--reason', 'test')).code).toBe(EXIT.usage);
    // The provider's user is untouched, and is revoked once named by its issuer.
    const { access_token: token } = await op.clientCredentialsToken();
    const get = () => request(app.getHttpServer()).get('/whoami').set('Authorization', `Bearer ${token}`);
    expect((await get()).status).toBe(200);
    expect((await cli('revoke-user', 'svc', '--issuer', op.issuer, '--reason', 'test')).code).toBe(EXIT.ok);
    const refused = await get();
    expect([refused.status, refused.body.code]).toEqual([401, 'token_revoked']);
  });
});


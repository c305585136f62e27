import { Module, type DynamicModule, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { Registry } from 'prom-client';
import request from 'supertest';
import { JwtDefenseModule, JwtDefenseOpsModule, TokenService, type JwtDefenseModuleExtras, type JwtDefenseOpsModuleOptions } from '@jwt-defense/core';
import { PrometheusDefenseMetrics } from '@jwt-defense/core/prometheus';
import { fixtureOptions, startFixture } from './fixtures/fixture.app.js';
import { WhoamiController } from './fixtures/whoami.controller.js';
import { ADAPTERS } from './support/demo-app.js';
import { OidcProvider } from './support/oidc-provider.js';
import { CapturedLogs } from './support/captured-logs.js';

// JwtDefenseOpsModule in an app that is not the demo (issue #22, item 1): the operations endpoints of the demo's
// contract, mounted by a user's app beside its JwtDefenseModule (not global), at its own path and for its own roles,
// each surface switchable, every admin route through the module's pipeline.

const METRICS_TOKEN = 'scraper-0123456789abcdef';
const AUDIENCE = 'https://api.test';

@Module({})
class OpsFixtureModule {}

/** The app's JwtDefenseModule (not global) and the operations module, side by side. */
function withOps(ops: JwtDefenseOpsModuleOptions, extras: JwtDefenseModuleExtras = {}, registry = new Registry()): DynamicModule {
  const defense = JwtDefenseModule.forRoot({ ...fixtureOptions({ revocation: { cleanupCron: false }, metrics: new PrometheusDefenseMetrics({ registry }) }), ...extras });
  return { module: OpsFixtureModule, imports: [defense, JwtDefenseOpsModule.forRoot(ops)] };
}

const issue = (app: INestApplication, sub: string, roles: string[]) => app.get(TokenService).issue(sub, { roles }).then((issued) => issued.token);
const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

describe.each(ADAPTERS)('JwtDefenseOpsModule in a user app over %s', (adapter) => {
  describe('at path ops/admin for the role sre, with metrics and the dashboard', () => {
    let app: INestApplication;
    const registry = new Registry();
    beforeAll(async () => {
      app = await startFixture(
        adapter,
        withOps({ path: 'ops/admin', roles: ['sre'], metrics: { registry, token: METRICS_TOKEN }, dashboard: { loginPath: '/login' } }, {}, registry),
        [WhoamiController],
      );
    });
    afterAll(() => app.close());
    const http = () => request(app.getHttpServer());

    it('the admin API is at the path and needs the role: no token 401, another role 403, JSON only; the default path is not mounted', async () => {
      const none = await http().get('/ops/admin/incident/status');
      expect([none.status, none.body.code, none.headers['www-authenticate']]).toEqual([401, 'token_missing', 'Bearer realm="api"']);
      const admin = await http().get('/ops/admin/security-events').set(bearer(await issue(app, 'root', ['admin'])));
      expect([admin.status, admin.body.code, admin.headers['www-authenticate']]).toEqual([403, 'insufficient_scope', 'Bearer realm="api", error="insufficient_scope"']);
      const sre = await issue(app, 'sre-1', ['sre']);
      const status = await http().get('/ops/admin/incident/status').set(bearer(sre));
      expect(status.status).toBe(200);
      expect(status.body).toMatchObject({ lockdown: { mode: 'off' }, signing_kid: 'fixture-hs', store: expect.anything() });
      expect(status.headers['cache-control']).toBe('no-store');
      const form = await http().post('/ops/admin/incident/lockdown').set(bearer(sre)).set('Content-Type', 'application/x-www-form-urlencoded').send('mode=off&reason=x');
      expect([form.status, form.body.code]).toEqual([415, 'unsupported_media_type']);
      const unknownField = await http().post('/ops/admin/incident/lockdown').set(bearer(sre)).send({ mode: 'off', reason: 'x', extra: 1 });
      expect([unknownField.status, unknownField.body.code]).toEqual([400, 'invalid_request']);
      const proto = await http().post('/ops/admin/incident/lockdown').set(bearer(sre)).set('Content-Type', 'application/json').send('{"mode":"off","reason":"x","__proto__":{"reason":"y"}}');
      expect([proto.status, proto.body.code]).toEqual([400, 'invalid_request']);
      expect((await http().get('/admin/incident/status').set(bearer(sre))).status).toBe(404);
      // ISO 8601 forms Date.parse cannot read (a week or an ordinal date) are refused, not read as no date at all.
      for (const since of ['2009-W01-1', '2009-123']) {
        const events = await http().get(`/ops/admin/security-events?since=${since}`).set(bearer(sre));
        expect([since, events.status, events.body.code]).toEqual([since, 400, 'invalid_request']);
      }
      const weekAt = await http().post('/ops/admin/incident/revoke-before').set(bearer(sre)).send({ at: '2009-W01-1', reason: 'x' });
      expect([weekAt.status, weekAt.body.code]).toEqual([400, 'invalid_request']);
    });

    it('revoke-before by an sre kills every token issued before it, the sre\'s own included; a token issued after it works', async () => {
      const sre = await issue(app, 'sre-2', ['sre']);
      const alice = await issue(app, 'alice', ['user']);
      expect((await http().get('/whoami').set(bearer(alice))).status).toBe(200);
      const done = await http().post('/ops/admin/incident/revoke-before').set(bearer(sre)).send({ reason: 'ops module test' });
      expect(done.status).toBe(200);
      expect(Date.parse(done.body.revoked_before)).toBeLessThanOrEqual(Date.now());
      for (const token of [alice, sre]) {
        const refused = await http().get('/whoami').set(bearer(token));
        expect([refused.status, refused.body.code]).toEqual([401, 'token_revoked']);
      }
      expect((await http().get('/whoami').set(bearer(await issue(app, 'alice', ['user'])))).status).toBe(200);
      const events = await http().get('/ops/admin/security-events?type=global_revoked&limit=1').set(bearer(await issue(app, 'sre-3', ['sre'])));
      expect(events.body.events).toEqual([expect.objectContaining({ type: 'global_revoked', reason: 'ops module test' })]);
    });

    it('/metrics: an sre token or metrics.token; no token 401, another role 403', async () => {
      expect((await http().get('/metrics')).body.code).toBe('token_missing');
      expect((await http().get('/metrics').set(bearer(await issue(app, 'root', ['admin'])))).body.code).toBe('insufficient_scope');
      expect((await http().get('/metrics').set(bearer(`${METRICS_TOKEN}x`))).body.code).toBe('token_malformed');
      for (const token of [await issue(app, 'sre-4', ['sre']), METRICS_TOKEN]) {
        const res = await http().get('/metrics').set(bearer(token));
        expect(res.status).toBe(200);
        expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
        expect(res.text).toMatch(/^jwt_defense_decisions_total\{/m);
      }
    });

    it('the probes and the dashboard page are public; the page knows the admin path and the login route', async () => {
      const live = await http().get('/health/live');
      const ready = await http().get('/health/ready');
      expect([live.status, live.body, ready.status, ready.body]).toEqual([200, { status: 'ok' }, 200, { status: 'ok' }]);
      expect((await http().get('/ops/admin/health')).status).toBe(401);
      const page = await http().get('/ops/admin/dashboard');
      expect(page.status).toBe(200);
      expect(page.headers['content-type']).toMatch(/^text\/html/);
      expect(page.headers['content-security-policy']).toContain("script-src 'self'");
      expect(page.text).toContain('<html lang="en" data-api="/ops/admin" data-login="/login" data-logout="" data-ready="/health/ready">');
      expect(page.text).toContain('<script src="/ops/admin/dashboard/dashboard.js" defer></script>');
      expect((await http().get('/ops/admin/dashboard/dashboard.js')).headers['content-type']).toMatch(/^text\/javascript/);
    });

    it('with keys of its own, the key endpoints are mounted (retiring the signing key is refused as unsafe)', async () => {
      const sre = await issue(app, 'sre-5', ['sre']);
      expect((await http().post('/ops/admin/incident/retire-key/fixture-hs').set(bearer(sre)).send({ reason: 'x' })).body.code).toBe('signing_key_active');
    });
  });

  describe('in a provider-only app (no token.keys) behind a real OpenID provider', () => {
    let op: OidcProvider;
    let app: INestApplication;
    beforeAll(async () => {
      op = await OidcProvider.start({ audience: AUDIENCE, clientId: 'svc', clientSecret: 'svc-secret-0123456789abcdef0123456789' });
      const defense = JwtDefenseModule.forRoot({ issuers: [{ issuer: op.issuer, audience: AUDIENCE, ca: op.caPem }], revocation: { cleanupCron: false } });
      app = await startFixture(adapter, { module: OpsFixtureModule, imports: [defense, JwtDefenseOpsModule.forRoot({ path: 'ops/admin', roles: ['sre'] })] }, [WhoamiController]);
    }, 30_000);
    afterAll(async () => {
      await app?.close();
      await op?.stop();
    });
    const http = () => request(app.getHttpServer());

    it('the key endpoints answer as routes that do not exist; the rest of the admin API serves the provider\'s admins', async () => {
      const now = Math.floor(Date.now() / 1000);
      const sre = op.signArbitraryToken({ iss: op.issuer, aud: AUDIENCE, sub: 'sre-1', roles: ['sre'], jti: 'ops-provider-only', iat: now, exp: now + 300 });
      const answer = async (path: string) => {
        const res = await http().post(path).set(bearer(sre)).send({ reason: 'x' });
        const { date, 'content-length': _length, ...headers } = res.headers;
        return { status: res.status, body: res.body, headers };
      };
      const absent = await answer('/ops/admin/incident/no-such-route');
      expect(absent.status).toBe(404);
      expect(await answer('/ops/admin/incident/rotate-key')).toEqual(absent);
      expect(await answer('/ops/admin/incident/retire-key/any-kid')).toEqual(absent);
      const jwks = await http().get('/.well-known/jwks.json');
      expect([jwks.status, jwks.body.code]).toEqual([404, 'not_found']);
      const status = await http().get('/ops/admin/incident/status').set(bearer(sre));
      expect(status.status).toBe(200);
    });
  });

  it("under main.ts's app.setGlobalPrefix('api'), the dashboard page's own URLs carry the prefix and answer", async () => {
    const app = await startFixture(adapter, withOps({ dashboard: { loginPath: '/api/login' } }), [WhoamiController], { beforeInit: (nest) => nest.setGlobalPrefix('api') });
    try {
      const http = () => request(app.getHttpServer());
      const page = await http().get('/api/admin/dashboard');
      expect(page.status).toBe(200);
      expect(page.text).toContain('<html lang="en" data-api="/api/admin" data-login="/api/login" data-logout="" data-ready="/api/health/ready">');
      expect(page.text).toContain('<script src="/api/admin/dashboard/dashboard.js" defer></script>');
      for (const file of ['dashboard.js', 'dashboard.css', 'favicon.svg']) expect((await http().get(`/api/admin/dashboard/${file}`)).status).toBe(200);
      expect((await http().get('/api/health/ready')).status).toBe(200);
    } finally {
      await app.close();
    }
  });

  describe('with every surface but the incident API off, in an app without the global guard', () => {
    let app: INestApplication;
    const logs = new CapturedLogs();
    beforeAll(async () => {
      app = await startFixture(adapter, withOps({ health: false, dashboard: false, jwks: false, metrics: false }, { globalGuard: false }), [WhoamiController], { logger: logs });
    });
    afterAll(() => app.close());
    const http = () => request(app.getHttpServer());

    it("its routes are guarded, so the boot warns of none of them as unguarded (only of the app's own unguarded admin route)", () => {
      const unguarded = logs.warnings.filter((line) => line.includes('no JwtDefenseGuard runs on it')).map((line) => line.slice(0, line.indexOf(' has ')));
      expect(unguarded).toEqual(['WhoamiController.admin (GET /whoami/admin)']);
    });

    it('a switched-off surface answers 404; the incident API still runs the pipeline: 401 without a token, 403 for a user', async () => {
      for (const path of ['/health/live', '/health/ready', '/admin/health', '/admin/dashboard', '/.well-known/jwks.json', '/metrics']) {
        const res = await http().get(path);
        expect({ path, status: res.status, code: res.body.code }).toEqual({ path, status: 404, code: 'not_found' });
      }
      expect((await http().get('/admin/security-events')).body.code).toBe('token_missing');
      expect((await http().get('/admin/security-events').set(bearer(await issue(app, 'alice', ['user'])))).body.code).toBe('insufficient_scope');
      const admin = await issue(app, 'root', ['admin']);
      expect((await http().get('/admin/security-events?limit=1').set(bearer(admin))).status).toBe(200);
      const revoked = await http().post('/admin/users/alice/revoke-all').set(bearer(admin)).send({ reason: 'no global guard' });
      expect([revoked.status, revoked.body.sub]).toEqual([200, 'alice']);
    });
  });

  it('incident: false leaves the incident API and the key endpoints unmounted; the probes stay', async () => {
    const app = await startFixture(adapter, withOps({ incident: false, dashboard: false }), [WhoamiController]);
    try {
      const admin = await issue(app, 'root', ['admin']);
      for (const [method, path] of [['get', '/admin/incident/status'], ['get', '/admin/security-events'], ['post', '/admin/incident/rotate-key'], ['post', '/admin/users/alice/revoke-all']] as const) {
        const res = await request(app.getHttpServer())[method](path).set(bearer(admin)).send({ reason: 'x' });
        expect({ path, status: res.status }).toEqual({ path, status: 404 });
      }
      expect((await request(app.getHttpServer()).get('/health/live')).status).toBe(200);
    } finally {
      await app.close();
    }
  });
});

describe('JwtDefenseOpsModule.forRoot() options', () => {
  it('an app without JwtDefenseModule stops at boot, naming it', async () => {
    const app = await NestFactory.create(JwtDefenseOpsModule.forRoot(), new ExpressAdapter(), { logger: false, abortOnError: false });
    await expect(app.init()).rejects.toThrow(new TypeError('jwt-defense: JwtDefenseOpsModule needs JwtDefenseModule: import JwtDefenseModule.forRoot() or forRootAsync() in the same app'));
  });

  it.each([
    [{ dashboard: {} }, 'ops.dashboard'],
    [{ metrics: {} }, 'ops.metrics.registry'],
    [{ metrics: { registry: new Registry(), token: 'short' } }, 'ops.metrics.token'],
    [{ path: '/admin/../x?' }, 'ops.path'],
    [{ roles: [] }, 'ops.roles'],
    [{ dashbaord: false }, 'ops.dashbaord'],
    [{ dashboard: { loginPath: 'login' } }, 'ops.dashboard.loginPath'],
  ])('%j is refused at boot, naming %s', (options, path) => {
    const incidentOff = 'dashboard' in options && path === 'ops.dashboard' ? { incident: false } : {};
    expect(() => JwtDefenseOpsModule.forRoot({ ...incidentOff, ...(options as JwtDefenseOpsModuleOptions) })).toThrow(TypeError);
    expect(() => JwtDefenseOpsModule.forRoot({ ...incidentOff, ...(options as JwtDefenseOpsModuleOptions) })).toThrow(path);
  });
});

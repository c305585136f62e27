import { generateKeyPairSync } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { SECURITY_EVENT_TYPES } from '@jwt-defense/core';
import { ADAPTERS, startDemo, type DemoHandle } from './support/demo-app.js';
import { admin, login, me } from './support/demo-client.js';
import { createDpopProof } from './support/oidc-provider.js';
import { parsePrometheusText, total } from './support/prometheus-text.js';
import { RedisServer } from './support/redis-server.js';

const LIMITS = { THROTTLE_LIMIT: '100000', LOGIN_LIMIT: '100000' };
const METRICS_TOKEN = 'scraper-0123456789abcdef0123456789abcdef';

describe.each(ADAPTERS)('operations over %s', (adapter) => {
  describe('GET /metrics', () => {
    let demo: DemoHandle;
    beforeAll(async () => {
      demo = await startDemo(adapter, { ...LIMITS, METRICS_TOKEN, TRUST_PROXY: '127.0.0.1/32,::1/128,::ffff:127.0.0.1/128' });
    });
    afterAll(() => demo.close());

    it('takes an admin token or METRICS_TOKEN as bearer; nothing else', async () => {
      const none = await request(demo.server).get('/metrics');
      expect(none.status).toBe(401);
      expect(none.body.code).toBe('token_missing');
      expect(none.headers['www-authenticate']).toBe('Bearer realm="api"');
      const wrong = await request(demo.server).get('/metrics').set('Authorization', `Bearer ${METRICS_TOKEN}x`);
      expect(wrong.status).toBe(401);
      expect(wrong.body.code).toBe('token_malformed');
      const alice = await login(demo, 'alice');
      const user = await request(demo.server).get('/metrics').set('Authorization', `Bearer ${alice.access_token}`);
      expect(user.status).toBe(403);
      expect(user.body.code).toBe('insufficient_scope');
      const adminToken = (await login(demo, 'admin')).access_token;
      for (const bearer of [adminToken, METRICS_TOKEN]) {
        const res = await request(demo.server).get('/metrics').set('Authorization', `Bearer ${bearer}`);
        expect(res.status).toBe(200);
        expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
        expect(res.headers['x-content-type-options']).toBe('nosniff');
      }
      // A revoked admin token no longer opens it.
      await admin(demo, adminToken, 'post', '/admin/users/admin/revoke-all', { reason: 'test' });
      expect((await request(demo.server).get('/metrics').set('Authorization', `Bearer ${adminToken}`)).body.code).toBe('token_revoked');
    });

    it('reports decisions by layer, code and route template, risk scores, store latency, cache hits and events, with bounded labels', async () => {
      const context = { 'CF-IPCountry': 'FR', 'X-Device-Id': 'laptop-1' };
      const session = (await request(demo.server).post('/auth/login').set(context).send({ username: 'alice', password: 'alice-password' })).body;
      await sleep(100); // the login's context is learned in the background
      for (let i = 0; i < 3; i++) {
        expect((await request(demo.server).get('/me').set(context).set('Authorization', `Bearer ${session.access_token}`)).status).toBe(200);
      }
      const forged = `${session.access_token.slice(0, -4)}AAAA`;
      expect((await me(demo, forged)).body.code).toBe('signature_invalid');
      // A replay from another country and device: denied by the risk layer.
      const replay = await request(demo.server).get('/me').set({ 'CF-IPCountry': 'BR', 'X-Device-Id': 'attacker' }).set('Authorization', `Bearer ${session.access_token}`);
      expect(replay.body.code).toBe('risk_denied');
      const adminToken = (await login(demo, 'admin')).access_token;
      const { jti } = (await me(demo, session.access_token)).body;
      await admin(demo, adminToken, 'post', `/admin/tokens/${jti}/revoke`, { reason: 'metrics test' });
      expect((await me(demo, session.access_token)).body.code).toBe('token_revoked');
      await admin(demo, adminToken, 'post', '/admin/incident/lockdown', { mode: 'deny-non-admin', reason: 'metrics test' });

      const text = (await request(demo.server).get('/metrics').set('Authorization', `Bearer ${METRICS_TOKEN}`)).text;
      const samples = parsePrometheusText(text);
      const decisions = 'jwt_defense_decisions_total';
      expect(total(samples, decisions, { layer: 'authorization', outcome: 'allow', route: '/me' })).toBeGreaterThanOrEqual(3);
      expect(total(samples, decisions, { layer: 'token', outcome: 'reject', code: 'signature_invalid', route: '/me' })).toBe(1);
      // Each refusal is reported by the layer that made it (not all as revocation, the store call's first stage).
      expect(total(samples, decisions, { layer: 'risk', outcome: 'reject', code: 'risk_denied', route: '/me' })).toBe(1);
      expect(total(samples, decisions, { layer: 'revocation', outcome: 'reject', code: 'token_revoked', route: '/me' })).toBe(1);
      expect(total(samples, 'jwt_defense_risk_score_count', { decision: 'deny' })).toBe(1);
      expect(total(samples, 'jwt_defense_risk_score_count', { decision: 'allow' })).toBeGreaterThanOrEqual(1);
      expect(total(samples, 'jwt_defense_store_call_duration_seconds_count', { operation: 'check' })).toBeGreaterThanOrEqual(5);
      expect(total(samples, 'jwt_defense_token_cache_lookups_total', { result: 'hit' })).toBeGreaterThanOrEqual(2);
      expect(total(samples, 'jwt_defense_token_cache_lookups_total', { result: 'miss' })).toBeGreaterThanOrEqual(1);
      expect(total(samples, 'jwt_defense_security_events_total', { type: 'token_revoked' })).toBe(1);
      expect(total(samples, 'jwt_defense_security_events_total', { type: 'risk_denied' })).toBe(1);
      expect(total(samples, 'jwt_defense_lockdown', { mode: 'deny-non-admin' })).toBe(1);
      expect(total(samples, 'jwt_defense_lockdown', { mode: 'off' })).toBe(0);

      // Bounded labels: closed sets and route templates; never a user, a token, an id or an address.
      const routes = new Set(samples.map((s) => s.labels.route).filter((route) => route !== undefined && route !== ''));
      expect([...routes].every((route) => route.startsWith('/') && !route.includes('?'))).toBe(true);
      for (const sample of samples) {
        if (sample.labels.type) expect(SECURITY_EVENT_TYPES).toContain(sample.labels.type);
        for (const value of Object.values(sample.labels)) {
          expect(value).not.toMatch(/alice|admin-password|eyJ|127\.0\.0\.1/);
          expect(value).not.toContain(jti);
        }
      }
      await admin(demo, (await login(demo, 'admin')).access_token, 'post', '/admin/incident/lockdown', { mode: 'off', reason: 'done' });
    });
  });

  it('METRICS_PUBLIC=true opens /metrics without a token', async () => {
    const demo = await startDemo(adapter, { ...LIMITS, METRICS_PUBLIC: 'true' });
    try {
      const res = await request(demo.server).get('/metrics');
      expect(res.status).toBe(200);
      expect(parsePrometheusText(res.text).some((sample) => sample.name === 'jwt_defense_lockdown')).toBe(true);
    } finally {
      await demo.close();
    }
  });

  it('forwards security events to a SIEM as NDJSON batches (SIEM_URL, SIEM_TOKEN), and keeps them while it is down', async () => {
    const received: Array<{ headers: IncomingMessage['headers']; lines: string[] }> = [];
    let up = false;
    const siem: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        if (!up) {
          res.writeHead(503).end();
          return;
        }
        received.push({ headers: req.headers, lines: body.split('\n').filter(Boolean) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => siem.listen(0, '127.0.0.1', resolve));
    const demo = await startDemo(adapter, { ...LIMITS, SIEM_URL: `http://127.0.0.1:${(siem.address() as AddressInfo).port}/ingest`, SIEM_TOKEN: 'siem-secret' });
    try {
      const adminToken = (await login(demo, 'admin')).access_token;
      await admin(demo, adminToken, 'post', '/admin/users/alice/revoke-all', { reason: 'siem-1' });
      await sleep(1300); // one failed delivery: the SIEM is down
      expect(received).toEqual([]);
      up = true;
      await admin(demo, adminToken, 'post', '/admin/incident/lockdown', { mode: 'off', reason: 'siem-2' });
      const deadline = Date.now() + 5000;
      while (received.flatMap((batch) => batch.lines).length < 2 && Date.now() < deadline) await sleep(100);
      const events = received.flatMap((batch) => batch.lines).map((line) => JSON.parse(line));
      expect(events.map((event) => [event.type, event.reason])).toEqual([
        ['user_revoked', 'siem-1'],
        ['lockdown_changed', 'siem-2'],
      ]);
      expect(received[0].headers['content-type']).toBe('application/x-ndjson');
      expect(received[0].headers.authorization).toBe('Bearer siem-secret');
    } finally {
      await demo.close();
      siem.close();
    }
  });

  it('counts anomaly alerts by route template in jwt_defense_anomaly_alerts_total', async () => {
    // A baseline of 2 requests a minute over 3 warm-up minutes (a faked clock), then a burst: one alert.
    const t0 = Math.ceil(Date.now() / 60_000) * 60_000 + 60_000;
    jest.useFakeTimers({ now: t0, doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] });
    const demo = await startDemo(adapter, { ...LIMITS, METRICS_TOKEN, ANOMALY_INTERVAL_SEC: '60', ANOMALY_WARMUP_INTERVALS: '3', ANOMALY_MIN_REQUESTS: '5', ANOMALY_FACTOR: '3' });
    try {
      const alerts = async () =>
        total(parsePrometheusText((await request(demo.server).get('/metrics').set('Authorization', `Bearer ${METRICS_TOKEN}`)).text), 'jwt_defense_anomaly_alerts_total', { route: '/me' });
      const token = (await login(demo, 'alice')).access_token;
      for (let interval = 0; interval < 4; interval++) {
        jest.setSystemTime(t0 + interval * 60_000 + 1000);
        for (let i = 0; i < 2; i++) expect((await me(demo, token)).status).toBe(200);
      }
      expect(await alerts()).toBe(0);
      jest.setSystemTime(t0 + 4 * 60_000 + 1000);
      for (let i = 0; i < 20; i++) await me(demo, token);
      expect(await alerts()).toBe(1);
    } finally {
      jest.useRealTimers();
      await demo.close();
    }
  });

  describe('health probes', () => {
    let redis: RedisServer;
    let demo: DemoHandle;
    beforeAll(async () => {
      redis = await RedisServer.start();
      demo = await startDemo(adapter, { ...LIMITS, METRICS_TOKEN, REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: '200' });
    });
    afterAll(async () => {
      await demo.close();
      await redis.destroy();
    });

    it('the store details are behind the admin API: GET /admin/health, admins only', async () => {
      expect((await request(demo.server).get('/admin/health')).status).toBe(401);
      const alice = (await login(demo, 'alice')).access_token;
      expect((await admin(demo, alice, 'get', '/admin/health')).body.code).toBe('insufficient_scope');
      const details = await admin(demo, (await login(demo, 'admin')).access_token, 'get', '/admin/health');
      expect(details.status).toBe(200);
      expect(details.body).toEqual({ status: 'up', store: 'redis', fail_mode: 'closed', latency_ms: expect.any(Number) });
      expect(details.body.latency_ms).toBeGreaterThanOrEqual(0);
      expect(details.body.latency_ms).toBeLessThan(2000);
      expect(details.headers['cache-control']).toBe('no-store');
    });

    const storeFailures = async () =>
      total(parsePrometheusText((await request(demo.server).get('/metrics').set('Authorization', `Bearer ${METRICS_TOKEN}`)).text), 'jwt_defense_store_failures_total', { operation: 'check' });

    it('counts failed store calls in jwt_defense_store_failures_total while Redis is down', async () => {
      const token = (await login(demo, 'alice')).access_token;
      expect((await me(demo, token)).status).toBe(200);
      const before = await storeFailures();
      await redis.stop();
      try {
        for (let i = 0; i < 2; i++) {
          const refused = await me(demo, token);
          expect([refused.status, refused.body.code]).toEqual([503, 'defense_store_unavailable']);
        }
        expect(await storeFailures()).toBe(before + 2);
      } finally {
        await redis.resume();
      }
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && (await me(demo, token)).status !== 200) await sleep(100);
      expect((await me(demo, token)).status).toBe(200);
    });

    it('live always answers; ready is 503 while the fail-closed store is down, and recovers; both say {status} only; GET /health keeps its contract', async () => {
      // The public probes tell nothing about the store (its kind, fail mode, latency): only whether to route here.
      const ready = await request(demo.server).get('/health/ready');
      expect(ready.status).toBe(200);
      expect(ready.body).toEqual({ status: 'ok' });
      expect(ready.headers['cache-control']).toBe('no-store');
      expect((await request(demo.server).get('/health/live')).body).toEqual({ status: 'ok' });

      await redis.stop();
      const down = await request(demo.server).get('/health/ready');
      expect(down.status).toBe(503);
      expect(down.body).toEqual({ statusCode: 503, error: 'Service Unavailable', message: 'The service is temporarily unavailable.', code: 'defense_store_unavailable' });
      expect(down.headers['retry-after']).toBe('1');
      const live = await request(demo.server).get('/health/live');
      expect(live.status).toBe(200);
      expect(live.body).toEqual({ status: 'ok' });
      const legacy = await request(demo.server).get('/health');
      expect(legacy.status).toBe(200);
      expect(legacy.body).toEqual({ status: 'ok', store: 'redis' });

      await redis.resume();
      const deadline = Date.now() + 10_000;
      let status = 0;
      while (Date.now() < deadline && (status = (await request(demo.server).get('/health/ready')).status) !== 200) await sleep(100);
      expect(status).toBe(200);
    });
  });
});

/**
 * M2 of the third review: /metrics authenticated beside the pipeline (TokenService.verify + RevocationService.check),
 * so a DPoP-bound admin token worked as Bearer and a step-up lockdown was ignored. It now goes through
 * DefenseAuthenticator, the pipeline itself.
 */
describe.each(ADAPTERS)('GET /metrics through the one pipeline over %s', (adapter) => {
  let demo: DemoHandle;
  let origin: string;
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  beforeAll(async () => {
    demo = await startDemo(adapter, { ...LIMITS, METRICS_TOKEN });
    await demo.app.listen(0, '127.0.0.1');
    origin = `http://127.0.0.1:${(demo.app.getHttpServer().address() as AddressInfo).port}`;
  });
  afterAll(() => demo.close());
  const metrics = (authorization: string, dpop?: string) => {
    const req = request(demo.server).get('/metrics').set('Host', origin.slice(7)).set('Authorization', authorization);
    return dpop ? req.set('DPoP', dpop) : req;
  };

  it('a DPoP-bound admin token needs its proof there too: as Bearer it is refused; with a fresh proof it opens', async () => {
    const bound = await request(demo.server).post('/auth/login').set('Host', origin.slice(7)).set('DPoP', createDpopProof(key, { htm: 'POST', htu: `${origin}/auth/login` })).send({ username: 'admin', password: 'admin-password' });
    expect(bound.body.token_type).toBe('DPoP');
    const asBearer = await metrics(`Bearer ${bound.body.access_token}`);
    expect(asBearer.status).toBe(401);
    expect(asBearer.body.code).toBe('invalid_dpop_proof');
    expect(asBearer.headers['www-authenticate']).toMatch(/^DPoP realm="api", algs="[^"]+", error="invalid_token"$/);
    const proof = createDpopProof(key, { htm: 'GET', htu: `${origin}/metrics`, accessToken: bound.body.access_token });
    const ok = await metrics(`DPoP ${bound.body.access_token}`, proof);
    expect(ok.status).toBe(200);
    expect(ok.headers['cache-control']).toBe('no-store');
    // The pipeline recorded the proof: its replay is refused.
    expect((await metrics(`DPoP ${bound.body.access_token}`, proof)).body.code).toBe('invalid_dpop_proof');
  });

  it('a step-up lockdown applies: an admin token from before it needs a new login; METRICS_TOKEN still scrapes', async () => {
    const before = (await login(demo, 'admin')).access_token;
    expect((await metrics(`Bearer ${before}`)).status).toBe(200);
    expect((await admin(demo, before, 'post', '/admin/incident/lockdown', { mode: 'step-up', reason: 'drill' })).status).toBe(200);
    const challenged = await metrics(`Bearer ${before}`);
    expect(challenged.status).toBe(401);
    expect(challenged.body.code).toBe('insufficient_user_authentication');
    expect(challenged.headers['www-authenticate']).toBe('Bearer realm="api", error="insufficient_user_authentication", max_age="0"');
    expect((await metrics(`Bearer ${METRICS_TOKEN}`)).status).toBe(200);
    const after = (await login(demo, 'admin')).access_token;
    expect((await metrics(`Bearer ${after}`)).status).toBe(200);
    await admin(demo, after, 'post', '/admin/incident/lockdown', { mode: 'off', reason: 'drill over' });
  });
});

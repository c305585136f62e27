import request from 'supertest';
import { ContextRiskService, SecurityEventService, TokenService, type SecurityEvent } from '@jwt-defense/core';
import { RequestCheckStore } from '@jwt-defense/core/store';
import { BackgroundWrites } from '../libs/jwt-defense/src/common/background-writes.js';
import { userTag } from '../libs/jwt-defense/src/token/token-ids.js';
import { ADAPTERS, startDemo, writeEs256KeyFiles, type DemoHandle } from './support/demo-app.js';
import { RedisServer } from './support/redis-server.js';
import { checkToken } from '../libs/jwt-defense/src/store/contract/token-check.js';

// Layers 3 and 4 on the demo, both adapters, on the memory store and on real Redis.

const TRUSTED = { TRUST_PROXY: '127.0.0.1/32,::1/128,::ffff:127.0.0.1/128' };
const LAPTOP = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const PHONE = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36';
const DESKTOP_LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
const FAKE_DATE = { doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] as Array<'nextTick'> };

interface Context {
  country?: string;
  ua: string;
}

const STORES: Array<[string, boolean]> = [
  ['memory', false],
  ['redis', true],
];

describe.each(ADAPTERS)('context risk and anomaly over %s', (adapter) => {
  describe.each(STORES)('on the %s store', (_store, withRedis) => {
    let redis: RedisServer | undefined;
    let prefix = 0;
    beforeAll(async () => {
      if (withRedis) redis = await RedisServer.start();
    });
    afterAll(() => redis?.destroy());

    const start = (env: Record<string, string>) =>
      startDemo(adapter, {
        THROTTLE_LIMIT: '1000000',
        LOGIN_LIMIT: '1000000',
        ...(redis ? { REDIS_URL: redis.url, REDIS_KEY_PREFIX: `risk${prefix++}-${adapter}:` } : {}),
        ...env,
      });

    const settle = (demo: DemoHandle) => demo.app.get(BackgroundWrites).settle();
    const withContext = (req: request.Test, context: Context) => {
      req.set('User-Agent', context.ua);
      if (context.country) req.set('CF-IPCountry', context.country);
      return req;
    };
    const login = async (demo: DemoHandle, username: string, context: Context) => {
      const res = await withContext(request(demo.server).post('/auth/login'), context).send({ username, password: `${username}-password` });
      expect(res.status).toBe(200);
      await settle(demo);
      return res.body.access_token as string;
    };
    const me = (demo: DemoHandle, token: string, context: Context) => withContext(request(demo.server).get('/me').set('Authorization', `Bearer ${token}`), context);
    /** Whether the store's context profile of `sub` knows this context's country and device (read as a request would). */
    const knows = async (demo: DemoHandle, sub: string, context: Context) => {
      await settle(demo);
      const headers: Record<string, string> = { 'user-agent': context.ua, ...(context.country ? { 'cf-ipcountry': context.country } : {}) };
      const fake = { headers, rawHeaders: Object.entries(headers).flat(), socket: { remoteAddress: '127.0.0.1' } };
      const read = demo.app.get(ContextRiskService).riskContextOf(fake);
      expect(read.country).toBe(context.country);
      const tag = userTag(sub);
      const { risk } = await checkToken(demo.app.get<RequestCheckStore>(RequestCheckStore), { tag, sub, jti: '', risk: { country: read.country, device: read.device, hourOfWeek: read.hourOfWeek } });
      return { country: risk!.countrySeenAtMs > 0, device: risk!.deviceSeenAtMs > 0 };
    };
    const eventsOf = (demo: DemoHandle) => {
      const seen: SecurityEvent[] = [];
      demo.app.get(SecurityEventService).events$.subscribe((event) => seen.push(event));
      return seen;
    };

    describe('context risk', () => {
      it('a token used from a new country on a new device minutes after login is denied (impossible travel), even seconds old', async () => {
        const demo = await start(TRUSTED);
        try {
          const token = await login(demo, 'alice', { country: 'FR', ua: LAPTOP });
          expect((await me(demo, token, { country: 'FR', ua: LAPTOP })).status).toBe(200);
          const stolen = await me(demo, token, { country: 'BR', ua: PHONE });
          expect(stolen.status).toBe(403);
          expect(stolen.body.code).toBe('risk_denied');
        } finally {
          await demo.close();
        }
      });

      it('below the deny threshold: a step-up (RFC 9470), passed by a fresh login from the new context, which is then learned', async () => {
        const demo = await start({ ...TRUSTED, RISK_DENY_AT: '2' });
        const events = eventsOf(demo);
        try {
          const token = await login(demo, 'alice', { country: 'FR', ua: LAPTOP });
          const challenged = await me(demo, token, { country: 'BR', ua: PHONE });
          expect(challenged.status).toBe(401);
          expect(challenged.body.code).toBe('insufficient_user_authentication');
          expect(challenged.headers['www-authenticate']).toBe('Bearer realm="api", error="insufficient_user_authentication", max_age="0"');
          const event = events.find((candidate) => candidate.type === 'risk_step_up');
          expect(event).toMatchObject({ sub: 'alice', details: { mode: 'enforce', country: 'BR' } });
          expect(event!.details!.score).toBe(1);
          expect(String(event!.details!.factors)).toMatch(/new_country \+0\.4.*unknown_device \+0\.3.*impossible_travel \+0\.5/);
          // The same token again: still challenged (it was authenticated before the challenge).
          expect((await me(demo, token, { country: 'BR', ua: PHONE })).status).toBe(401);
          // Refused requests taught nothing: the store's profile of alice does not know BR or the phone yet.
          expect(await knows(demo, 'alice', { country: 'BR', ua: PHONE })).toEqual({ country: false, device: false });
          // A fresh login from BR on the phone passes, and its context is learned.
          const fresh = await login(demo, 'alice', { country: 'BR', ua: PHONE });
          expect((await me(demo, fresh, { country: 'BR', ua: PHONE })).status).toBe(200);
          await settle(demo);
          expect((await me(demo, fresh, { country: 'BR', ua: PHONE })).status).toBe(200);
          expect(await knows(demo, 'alice', { country: 'BR', ua: PHONE })).toEqual({ country: true, device: true });
        } finally {
          await demo.close();
        }
      });

      it('passing a step-up never stops the scoring (H1): challenge → login → a new country and device is refused, and not learned', async () => {
        const demo = await start({ ...TRUSTED, RISK_DENY_AT: '2' });
        try {
          const first = await login(demo, 'alice', { country: 'FR', ua: LAPTOP });
          expect((await me(demo, first, { country: 'BR', ua: PHONE })).status).toBe(401);
          // alice passes the challenge where it was raised, with a new login there.
          const fresh = await login(demo, 'alice', { country: 'BR', ua: PHONE });
          expect((await me(demo, fresh, { country: 'BR', ua: PHONE })).status).toBe(200);
          // The same fresh token, stolen, from a new country on a new device: scored, refused, a new challenge.
          const stolen = await me(demo, fresh, { country: 'KP', ua: DESKTOP_LINUX });
          expect(stolen.status).toBe(401);
          expect(stolen.body.code).toBe('insufficient_user_authentication');
          expect(await knows(demo, 'alice', { country: 'KP', ua: DESKTOP_LINUX })).toEqual({ country: false, device: false });
          // The owner logs in again from home: that login does not pass the thief's challenge for the thief.
          const home = await login(demo, 'alice', { country: 'FR', ua: LAPTOP });
          expect((await me(demo, home, { country: 'FR', ua: LAPTOP })).status).toBe(200);
          expect((await me(demo, home, { country: 'KP', ua: DESKTOP_LINUX })).status).toBe(401);
          expect(await knows(demo, 'alice', { country: 'KP', ua: DESKTOP_LINUX })).toEqual({ country: false, device: false });
        } finally {
          await demo.close();
        }
      });

      it('from an untrusted peer, the country header is ignored', async () => {
        const demo = await start({});
        try {
          const token = await login(demo, 'alice', { country: 'FR', ua: LAPTOP });
          expect((await me(demo, token, { country: 'BR', ua: LAPTOP })).status).toBe(200);
          expect((await me(demo, token, { country: 'KP', ua: LAPTOP })).status).toBe(200);
        } finally {
          await demo.close();
        }
      });

      it('monitor mode answers 200 and records the decision it would have made', async () => {
        const demo = await start({ ...TRUSTED, RISK_MODE: 'monitor' });
        const events = eventsOf(demo);
        try {
          const token = await login(demo, 'alice', { country: 'FR', ua: LAPTOP });
          expect((await me(demo, token, { country: 'BR', ua: PHONE })).status).toBe(200);
          expect(events.find((event) => event.type === 'risk_denied')).toMatchObject({ sub: 'alice', details: { mode: 'monitor' } });
          // Never learned from: the same context is still flagged.
          await settle(demo);
          expect((await me(demo, token, { country: 'BR', ua: PHONE })).status).toBe(200);
          expect(events.filter((event) => event.type === 'risk_denied').length).toBeGreaterThanOrEqual(1);
        } finally {
          await demo.close();
        }
      });

      it('a user with no history learns the first context (trust on first use), and refused requests teach nothing', async () => {
        const demo = await start({ ...TRUSTED, RISK_DENY_AT: '2' });
        try {
          // A token minted without a login through the demo: the user has no history at all.
          const token = (await demo.app.get(TokenService).issue('admin', { roles: ['admin'] })).token;
          expect((await me(demo, token, { country: 'DE', ua: LAPTOP })).status).toBe(200);
          await settle(demo);
          for (let i = 0; i < 3; i++) expect((await me(demo, token, { country: 'CN', ua: PHONE })).status).toBe(401);
          await settle(demo);
          expect((await me(demo, token, { country: 'CN', ua: PHONE })).status).toBe(401);
          expect((await me(demo, token, { country: 'DE', ua: LAPTOP })).status).toBe(200);
        } finally {
          await demo.close();
        }
      });
    });

    describe('anomaly monitoring', () => {
      afterEach(() => jest.useRealTimers());
      // These tests move this process's clock up to 7 minutes ahead. On Redis, tokens are dated by the store's clock
      // (Redis TIME, real time: see EpochClock), so they must outlive the simulated minutes: the longest lifetime.
      const ANOMALY_CLOCK = { ACCESS_TOKEN_TTL_SEC: '900' };

      const steadyThenBurst = async (demo: DemoHandle, token: string, t0: number, context: Context) => {
        // Steady traffic: 2 requests in each of 4 one-minute intervals builds a baseline of 2.
        for (let interval = 0; interval < 4; interval++) {
          jest.setSystemTime(t0 + interval * 60_000 + 1000);
          for (let i = 0; i < 2; i++) expect((await me(demo, token, context)).status).toBe(200);
        }
        jest.setSystemTime(t0 + 4 * 60_000 + 1000);
        const statuses: number[] = [];
        for (let i = 0; i < 20; i++) statuses.push((await me(demo, token, context)).status);
        return statuses;
      };

      it('steady traffic builds a baseline; a burst over factor × baseline raises exactly one alert per interval', async () => {
        const t0 = Math.ceil(Date.now() / 60_000) * 60_000 + 60_000;
        jest.useFakeTimers({ ...FAKE_DATE, now: t0 });
        const demo = await start({ ...ANOMALY_CLOCK, ANOMALY_INTERVAL_SEC: '60', ANOMALY_WARMUP_INTERVALS: '3', ANOMALY_MIN_REQUESTS: '5', ANOMALY_FACTOR: '3', ANOMALY_CONTAINMENT: 'none' });
        const events = eventsOf(demo);
        try {
          const context = { ua: LAPTOP };
          const token = await login(demo, 'alice', context);
          expect(await steadyThenBurst(demo, token, t0, context)).toEqual(Array(20).fill(200));
          const alerts = events.filter((event) => event.type === 'anomaly_detected');
          expect(alerts).toHaveLength(1);
          expect(alerts[0]).toMatchObject({ sub: 'alice', details: { route: '/me', count: 7, baseline: 2, containment: 'none' } });
          // The next interval: one more alert for another burst, never one per request.
          jest.setSystemTime(t0 + 5 * 60_000 + 1000);
          for (let i = 0; i < 30; i++) await me(demo, token, context);
          expect(events.filter((event) => event.type === 'anomaly_detected')).toHaveLength(2);
        } finally {
          await demo.close();
        }
      });

      it("with containment revoke, the user's tokens are refused from the alert on, and other users are untouched", async () => {
        const t0 = Math.ceil(Date.now() / 60_000) * 60_000 + 60_000;
        jest.useFakeTimers({ ...FAKE_DATE, now: t0 });
        const demo = await start({ ...ANOMALY_CLOCK, ANOMALY_INTERVAL_SEC: '60', ANOMALY_WARMUP_INTERVALS: '3', ANOMALY_MIN_REQUESTS: '5', ANOMALY_FACTOR: '3', ANOMALY_CONTAINMENT: 'revoke' });
        try {
          const context = { ua: LAPTOP };
          const alice = await login(demo, 'alice', context);
          const bob = await login(demo, 'admin', context);
          const statuses = await steadyThenBurst(demo, alice, t0, context);
          // Requests 1-6 pass; the 7th (> 3 × 2) raises the alert and is refused with the rest.
          expect(statuses.slice(0, 6)).toEqual(Array(6).fill(200));
          expect(statuses.slice(6)).toEqual(Array(14).fill(401));
          expect((await me(demo, alice, context)).body.code).toBe('token_revoked');
          expect((await me(demo, bob, context)).status).toBe(200);
          // A new login works (the revoke-all covers tokens authenticated before it).
          jest.setSystemTime(t0 + 4 * 60_000 + 2000);
          expect((await me(demo, await login(demo, 'alice', context), context)).status).toBe(200);
        } finally {
          await demo.close();
        }
      });

      it('with containment step-up, tokens authenticated before the alert need a new login', async () => {
        const t0 = Math.ceil(Date.now() / 60_000) * 60_000 + 60_000;
        jest.useFakeTimers({ ...FAKE_DATE, now: t0 });
        const demo = await start({ ...ANOMALY_CLOCK, ANOMALY_INTERVAL_SEC: '60', ANOMALY_WARMUP_INTERVALS: '3', ANOMALY_MIN_REQUESTS: '5', ANOMALY_FACTOR: '3', ANOMALY_CONTAINMENT: 'step-up' });
        try {
          const context = { ua: LAPTOP };
          const token = await login(demo, 'alice', context);
          const statuses = await steadyThenBurst(demo, token, t0, context);
          expect(statuses.slice(6)).toEqual(Array(14).fill(401));
          const refused = await me(demo, token, context);
          expect(refused.body.code).toBe('insufficient_user_authentication');
          expect(refused.headers['www-authenticate']).toContain('max_age="0"');
          jest.setSystemTime(t0 + 4 * 60_000 + 2000);
          expect((await me(demo, await login(demo, 'alice', context), context)).status).toBe(200);
        } finally {
          await demo.close();
        }
      });
    });
  });
});

describe('context risk across instances sharing Redis', () => {
  it('a context learned through one instance is known to the other', async () => {
    const redis = await RedisServer.start();
    const keys = writeEs256KeyFiles();
    const env = { ...TRUSTED, REDIS_URL: redis.url, REDIS_KEY_PREFIX: 'risk-shared:', THROTTLE_LIMIT: '1000000', LOGIN_LIMIT: '1000000' };
    const a = await startDemo('express', env, keys);
    const b = await startDemo('fastify', env, keys);
    try {
      const res = await request(a.server).post('/auth/login').set('User-Agent', LAPTOP).set('CF-IPCountry', 'FR').send({ username: 'alice', password: 'alice-password' });
      await a.app.get(BackgroundWrites).settle();
      const token = res.body.access_token as string;
      expect((await request(b.server).get('/me').set('Authorization', `Bearer ${token}`).set('User-Agent', LAPTOP).set('CF-IPCountry', 'FR')).status).toBe(200);
      expect((await request(b.server).get('/me').set('Authorization', `Bearer ${token}`).set('User-Agent', PHONE).set('CF-IPCountry', 'BR')).status).toBe(403);
    } finally {
      await Promise.all([a.close(), b.close()]);
      await redis.destroy();
    }
  });
});

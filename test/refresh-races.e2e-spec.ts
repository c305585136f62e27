import { execFileSync } from 'node:child_process';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { JwtDefenseModule, RefreshTokenService, RevocationService, SecurityEventService, type SecurityEvent } from '@jwt-defense/core';
import { DefenseClock } from '../libs/jwt-defense/src/common/defense-clock.js';
import { ADAPTERS } from './support/demo-app.js';
import { fixtureOptions, startFixture } from './fixtures/fixture.app.js';
import { SessionController } from './fixtures/session.controller.js';
import { RedisServer } from './support/redis-server.js';

// Security review findings 4 and 5: races between a refresh and the store, on real Redis with two app
// instances. `CLIENT PAUSE <ms> WRITE` holds every script (they write) while reads still answer, which orders
// the store calls of the two instances deterministically.

const pause = (redis: RedisServer, ms: number) => execFileSync('redis-cli', ['-p', String(redis.port), 'CLIENT', 'PAUSE', String(ms), 'WRITE']);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
let prefix = 0;

describe.each(ADAPTERS)('refresh races on real Redis over %s', (adapter) => {
  let redis: RedisServer;
  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterAll(() => redis.destroy());

  const instances = async (commandTimeoutMs: number, reuseGraceSec = 0): Promise<[INestApplication, INestApplication]> => {
    const options = fixtureOptions({
      store: { type: 'redis', connection: redis.url, keyPrefix: `races${prefix++}-${adapter}:`, commandTimeoutMs },
      session: { reuseGraceSec },
      revocation: { cleanupCron: false, globalStateRefreshMs: 100 },
    });
    return Promise.all([
      startFixture(adapter, JwtDefenseModule.forRoot(options), [SessionController]),
      startFixture(adapter, JwtDefenseModule.forRoot(options), [SessionController]),
    ]);
  };

  it('finding 4: a refresh in flight during revoke-all mints no token that survives it', async () => {
    const [a, b] = await instances(5000);
    try {
      const pair = await b.get(RefreshTokenService).issuePair('alice');
      await sleep(5);
      pause(redis, 1500);
      // A reads the session (reads are not paused), then its rotation waits for the pause...
      const refreshing = request(a.getHttpServer()).post('/session/refresh').send({ refresh_token: pair.refreshToken });
      const sent = refreshing.then((res) => res);
      await sleep(300);
      // ...and B's revoke-all is queued behind it: Redis rotates first, then raises the epoch, and A mints the
      // new access token after both, so its iat is later than the epoch.
      const revokeAll = b.get(RevocationService).revokeAllForUser('alice', 'account takeover');
      const [refreshed] = await Promise.all([sent, revokeAll]);
      expect(refreshed.status).toBe(200);
      const fresh = refreshed.body.access_token as string;
      const claims = JSON.parse(Buffer.from(fresh.split('.')[1], 'base64url').toString());
      expect(claims.auth_time).toBeLessThanOrEqual(claims.iat);
      for (const app of [a, b]) {
        const res = await request(app.getHttpServer()).get('/session/me').set('Authorization', `Bearer ${fresh}`);
        expect(res.status).toBe(401);
        expect(res.body.code).toBe('token_revoked');
      }
      const again = await request(a.getHttpServer()).post('/session/refresh').send({ refresh_token: refreshed.body.refresh_token });
      expect(again.body.code).toBe('token_revoked');
      // A login after the revoke-all works.
      const after = await b.get(RefreshTokenService).issuePair('alice');
      expect((await request(a.getHttpServer()).get('/session/me').set('Authorization', `Bearer ${after.accessToken.token}`)).status).toBe(200);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }, 30_000);

  it('finding 5: with the strict default, a rotation whose reply timed out is a 503, and the retry counts as reuse', async () => {
    const [a, b] = await instances(300);
    const events: SecurityEvent[] = [];
    a.get(SecurityEventService).events$.subscribe((event) => events.push(event));
    try {
      const pair = await a.get(RefreshTokenService).issuePair('bob');
      pause(redis, 800);
      const timedOut = await request(a.getHttpServer()).post('/session/refresh').send({ refresh_token: pair.refreshToken });
      expect(timedOut.status).toBe(503);
      expect(timedOut.body.code).toBe('defense_store_unavailable');
      expect(timedOut.headers['retry-after']).toBe('1');
      await sleep(800); // Redis applied the rotation when the pause ended.
      const retry = await request(a.getHttpServer()).post('/session/refresh').send({ refresh_token: pair.refreshToken });
      expect(retry.status).toBe(401);
      expect(retry.body.code).toBe('token_revoked');
      expect(events.filter((event) => event.type === 'refresh_token_reuse')).toHaveLength(1);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }, 30_000);

  it('finding 5: within the reuse grace, the honest retry gets the same new refresh token and the family lives', async () => {
    const [a, b] = await instances(300, 30);
    const events: SecurityEvent[] = [];
    a.get(SecurityEventService).events$.subscribe((event) => events.push(event));
    try {
      const pair = await a.get(RefreshTokenService).issuePair('carol');
      pause(redis, 800);
      expect((await request(a.getHttpServer()).post('/session/refresh').send({ refresh_token: pair.refreshToken })).status).toBe(503);
      await sleep(800);
      const retry = await request(b.getHttpServer()).post('/session/refresh').send({ refresh_token: pair.refreshToken });
      expect(retry.status).toBe(200);
      const again = await request(a.getHttpServer()).post('/session/refresh').send({ refresh_token: pair.refreshToken });
      expect(again.status).toBe(200);
      expect(again.body.refresh_token).toBe(retry.body.refresh_token);
      expect(again.body.access_token).not.toBe(retry.body.access_token);
      expect((await request(a.getHttpServer()).get('/session/me').set('Authorization', `Bearer ${retry.body.access_token}`)).status).toBe(200);
      // Once the new refresh token is used, the old one is reuse again, grace or not.
      const next = await request(a.getHttpServer()).post('/session/refresh').send({ refresh_token: retry.body.refresh_token });
      expect(next.status).toBe(200);
      const late = await request(a.getHttpServer()).post('/session/refresh').send({ refresh_token: pair.refreshToken });
      expect(late.body.code).toBe('token_revoked');
      expect(events.filter((event) => event.type === 'refresh_token_reuse')).toHaveLength(1);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  }, 30_000);

  it('clocks 10 s apart (within the 30 s tolerance): a retry within the 15 s grace on the other instance is a retry, not reuse', async () => {
    const [slow, fast] = await instances(2000, 15);
    slow.get(DefenseClock).nowMs = () => Date.now() - 10_000;
    fast.get(DefenseClock).nowMs = () => Date.now() + 10_000;
    try {
      const pair = await slow.get(RefreshTokenService).issuePair('dave');
      const first = await request(slow.getHttpServer()).post('/session/refresh').send({ refresh_token: pair.refreshToken });
      expect(first.status).toBe(200);
      // Measured by each instance's own clock, this retry would come 20 s after the rotation: reuse, family revoked.
      const retry = await request(fast.getHttpServer()).post('/session/refresh').send({ refresh_token: pair.refreshToken });
      expect(retry.status).toBe(200);
      expect(retry.body.refresh_token).toBe(first.body.refresh_token);
      expect((await request(fast.getHttpServer()).get('/session/me').set('Authorization', `Bearer ${retry.body.access_token}`)).status).toBe(200);
    } finally {
      await Promise.all([slow.close(), fast.close()]);
    }
  }, 30_000);
});

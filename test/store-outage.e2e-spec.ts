import { execFileSync } from 'node:child_process';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { JwtDefenseModule, RevocationService, SecurityEventService, TokenService, type SecurityEvent } from '@jwt-defense/core';
import { BackgroundWrites } from '../libs/jwt-defense/src/common/background-writes.js';
import { ADAPTERS } from './support/demo-app.js';
import { FailModeController, fixtureOptions, startFixture } from './fixtures/fixture.app.js';
import { RedisClusterServer, RedisServer } from './support/redis-server.js';

const COMMAND_TIMEOUT_MS = 300;

function commandStats(port: number): Record<string, number> {
  const info = execFileSync('redis-cli', ['-p', String(port), 'INFO', 'commandstats']).toString();
  const stats: Record<string, number> = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) stats[match[1]] = Number(match[2]);
  return stats;
}

describe.each(ADAPTERS)('defence store outage and budget over %s', (adapter) => {
  let redis: RedisServer;
  let app: INestApplication;
  let tokens: TokenService;
  const recorded: SecurityEvent[] = [];

  beforeAll(async () => {
    redis = await RedisServer.start();
    app = await startFixture(
      adapter,
      JwtDefenseModule.forRoot(
        fixtureOptions({
          store: { type: 'redis', connection: redis.url, keyPrefix: `outage-${adapter}:`, commandTimeoutMs: COMMAND_TIMEOUT_MS },
          // Background work kept out of the command counts below.
          revocation: { globalStateRefreshMs: 3_600_000, cleanupCron: false },
          // Every layer with per-request state on: they all share the ONE check call.
          risk: { mode: 'enforce' },
          anomaly: { mode: 'enforce' },
        }),
      ),
      [FailModeController],
    );
    tokens = app.get(TokenService);
    app.get(SecurityEventService).events$.subscribe((event) => recorded.push(event));
  }, 30_000);
  afterAll(async () => {
    await app.close();
    await redis.destroy();
  });

  const bearer = async () => `Bearer ${(await tokens.issue('carol')).token}`;

  it('the defence check is ONE Redis command per authenticated request (revocation, user rate, risk, anomaly), none for a refused token', async () => {
    const auth = await bearer();
    await request(app.getHttpServer()).get('/store/closed').set('Authorization', auth); // warm-up: script load, first context learned
    await app.get(BackgroundWrites).settle();
    const before = commandStats(redis.port);
    const requests = 10;
    for (let i = 0; i < requests; i++) {
      expect((await request(app.getHttpServer()).get('/store/closed').set('Authorization', auth)).status).toBe(200);
    }
    for (let i = 0; i < 5; i++) {
      expect((await request(app.getHttpServer()).get('/store/closed').set('Authorization', 'Bearer x.y.z')).status).toBe(401);
    }
    const after = commandStats(redis.port);
    const delta = Object.fromEntries(
      Object.entries(after)
        .filter(([name]) => name !== 'info')
        .map(([name, calls]) => [name, calls - (before[name] ?? 0)])
        .filter(([, calls]) => calls !== 0),
    );
    // Budget (#21): 1 round trip per authenticated request (the defence check, the IP count inside it), 1 for a refused
    // token (its IP count as a hit: no check after a failed verification). Scripts go as EVALSHA, a script's first use by
    // this app as EVAL (after NOSCRIPT, which commandstats does not count as a call). commandstats also counts the
    // commands the scripts run inside Redis; those are not round trips, and nothing else was sent.
    const refused = 5;
    expect((delta.evalsha ?? 0) + (delta.eval ?? 0)).toBe(requests + refused);
    const insideScripts = ['get', 'exists', 'hexists', 'hmget', 'hset', 'hget', 'hlen', 'pexpire'];
    // Besides: the sampled token_rejected event of the refused tokens (one per client and rule per 10 s), appended to
    // the event log without the request waiting for it.
    expect(delta.xadd ?? 0).toBeLessThanOrEqual(1);
    expect(Object.keys(delta).filter((name) => name !== 'evalsha' && name !== 'eval' && name !== 'xadd' && !insideScripts.includes(name))).toEqual([]);
    // Inside the one script: the user epoch and the step-up epoch, read once each per authenticated request.
    expect(delta.get).toBe(2 * requests);
    // HMGET: the IP counter of every request, the user counter and the context profile of each authenticated one.
    expect(delta.hmget).toBe(requests + refused + 2 * requests);
  });

  it('Redis down: fail-closed answers 503 within the command timeout, fail-open answers 200 and records an event; enforcement resumes after a restart', async () => {
    const auth = await bearer();
    await redis.stop();

    const closed = await request(app.getHttpServer()).get('/store/closed').set('Authorization', auth).timeout(COMMAND_TIMEOUT_MS * 6);
    expect(closed.status).toBe(503);
    expect(closed.body.code).toBe('defense_store_unavailable');
    expect(closed.headers['retry-after']).toBe('1');
    expect(closed.headers['x-content-type-options']).toBe('nosniff');

    const open = await request(app.getHttpServer()).get('/store/open').set('Authorization', auth).timeout(COMMAND_TIMEOUT_MS * 6);
    expect(open.status).toBe(200);
    expect(recorded.some((event) => event.type === 'store_unavailable')).toBe(true);

    await redis.resume();
    // ioredis reconnects by itself: no restart of the app.
    const deadline = Date.now() + 10_000;
    let status = 0;
    while (Date.now() < deadline) {
      status = (await request(app.getHttpServer()).get('/store/closed').set('Authorization', auth)).status;
      if (status === 200) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(status).toBe(200);

    const principal = await tokens.verify(auth.slice(7));
    await app.get(RevocationService).revoke(principal.jti!, { reason: 'after restart', sub: principal.sub });
    const revoked = await request(app.getHttpServer()).get('/store/open').set('Authorization', auth);
    expect(revoked.status).toBe(401);
    expect(revoked.body.code).toBe('token_revoked');

    // The outage event, kept in memory while Redis was down, reaches the log once it is back.
    await app.get(SecurityEventService).flushPending();
    const stored = await app.get(SecurityEventService).list({ type: 'store_unavailable' });
    expect(stored.length).toBeGreaterThanOrEqual(1);
  }, 30_000);
});

describe.each(ADAPTERS)('throttle fail mode over %s', (adapter) => {
  it('throttle.failMode closed answers 503 when Redis is down (before any token work); open lets through', async () => {
    const redis = await RedisServer.start();
    const start = (failMode: 'open' | 'closed') =>
      startFixture(
        adapter,
        JwtDefenseModule.forRoot(
          fixtureOptions({
            store: { type: 'redis', connection: redis.url, keyPrefix: `tfm-${failMode}:`, commandTimeoutMs: COMMAND_TIMEOUT_MS },
            throttle: { failMode },
            revocation: { failMode: 'open', cleanupCron: false },
          }),
        ),
        [FailModeController],
      );
    const closedApp = await start('closed');
    const openApp = await start('open');
    try {
      const token = (await closedApp.get(TokenService).issue('erin')).token;
      await redis.stop();
      const closed = await request(closedApp.getHttpServer()).get('/store/open').set('Authorization', `Bearer ${token}`).timeout(COMMAND_TIMEOUT_MS * 6);
      expect(closed.status).toBe(503);
      expect(closed.body.code).toBe('defense_store_unavailable');
      const open = await request(openApp.getHttpServer()).get('/store/open').set('Authorization', `Bearer ${token}`).timeout(COMMAND_TIMEOUT_MS * 6);
      expect(open.status).toBe(200);
    } finally {
      await Promise.all([closedApp.close(), openApp.close()]);
      await redis.destroy();
    }
  }, 30_000);
});

describe('the round-trip budget on Redis Cluster', () => {
  it('an authenticated request costs 2 commands sent together (IP counter, check: two slots) with every layer on; a refused token 1', async () => {
    const cluster = await RedisClusterServer.start();
    const app = await startFixture(
      'express',
      JwtDefenseModule.forRoot(
        fixtureOptions({
          store: { type: 'redis', connection: { clusterNodes: cluster.clusterNodes }, keyPrefix: 'budget:' },
          revocation: { globalStateRefreshMs: 3_600_000, cleanupCron: false },
          risk: { mode: 'enforce' },
          anomaly: { mode: 'enforce' },
        }),
      ),
      [FailModeController],
    );
    try {
      const evalsha = () => cluster.nodes.map((node) => (commandStats(node.port).evalsha ?? 0) + (commandStats(node.port).eval ?? 0)).reduce((a, b) => a + b, 0);
      const auth = `Bearer ${(await app.get(TokenService).issue('carol')).token}`;
      await request(app.getHttpServer()).get('/store/closed').set('Authorization', auth);
      await app.get(BackgroundWrites).settle();
      const before = evalsha();
      for (let i = 0; i < 10; i++) expect((await request(app.getHttpServer()).get('/store/closed').set('Authorization', auth)).status).toBe(200);
      for (let i = 0; i < 5; i++) expect((await request(app.getHttpServer()).get('/store/closed').set('Authorization', 'Bearer x.y.z')).status).toBe(401);
      expect(evalsha() - before).toBe(2 * 10 + 5);
    } finally {
      await app.close();
      await cluster.destroy();
    }
  }, 60_000);
});

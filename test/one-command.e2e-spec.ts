import { execFileSync } from 'node:child_process';
import type { INestApplication } from '@nestjs/common';
import request from 'supertest';
import { JwtDefenseModule, TokenService, type JwtDefenseModuleOptions } from '@jwt-defense/core';
import { DefenseStore } from '@jwt-defense/core/store';
import { AccessTokenVerifier } from '../libs/jwt-defense/src/issuers/access-token.verifier.js';
import type { RedisDefenseStore } from '../libs/jwt-defense/src/store/redis/redis-defense.store.js';
import { fixtureOptions, startFixture } from './fixtures/fixture.app.js';
import { WhoamiController } from './fixtures/whoami.controller.js';
import { ADAPTERS } from './support/demo-app.js';
import { RedisClusterServer, RedisServer } from './support/redis-server.js';

// Issue 21: on a remote store an authenticated request costs ONE Redis command (standalone, Sentinel): its per-IP
// count rides in the one call with every other layer's state. On Cluster, where the IP counter sits in another slot,
// two commands are sent together (one wait). A request refused before the call (a forged token) still counts against
// its IP (one hit); a block the store answered is remembered, so the client's next requests cost no token work and no
// round trip. Counting stays exact across instances.

/** Scripts run by one Redis node so far (EVALSHA, EVAL). */
const scriptCalls = (port: number): number => {
  const info = execFileSync('redis-cli', ['-p', String(port), 'INFO', 'commandstats']).toString();
  return Number(/cmdstat_evalsha:calls=(\d+)/.exec(info)?.[1] ?? 0) + Number(/cmdstat_eval:calls=(\d+)/.exec(info)?.[1] ?? 0);
};

const ipLimited = (redisUrl: string | { host: string; port: number }[], keyPrefix: string, limit: number): JwtDefenseModuleOptions =>
  fixtureOptions({
    revocation: { cleanupCron: false },
    store: { type: 'redis', connection: Array.isArray(redisUrl) ? { clusterNodes: redisUrl } : redisUrl, keyPrefix },
    throttle: { ip: { limit, ttlMs: 60_000 }, user: { limit: 1000, ttlMs: 60_000 } },
  });

describe.each(ADAPTERS)('one Redis command per authenticated request over %s', (adapter) => {
  let redis: RedisServer;
  const apps: INestApplication[] = [];
  const start = async (options: JwtDefenseModuleOptions) => {
    const app = await startFixture(adapter, JwtDefenseModule.forRoot(options), [WhoamiController]);
    apps.push(app);
    return app;
  };
  const token = async (app: INestApplication, sub: string) => (await app.get(TokenService).issue(sub, { roles: ['user'] })).token;
  const whoami = (app: INestApplication, bearer: string) => request(app.getHttpServer()).get('/whoami').set('Authorization', `Bearer ${bearer}`);

  beforeAll(async () => {
    redis = await RedisServer.start();
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await Promise.all(apps.splice(0).map((app) => app.close()));
  });
  afterAll(() => redis.destroy());

  it('standalone: one script per request carries the per-IP count with every layer; the counter is the one a hit counts', async () => {
    const prefix = `one-${adapter}-a:`;
    const app = await start(ipLimited(redis.url, prefix, 100));
    const bearer = await token(app, 'alice');
    const before = scriptCalls(redis.port);
    for (let i = 0; i < 5; i++) expect((await whoami(app, bearer)).status).toBe(200);
    expect(scriptCalls(redis.port) - before).toBe(5);
    // The client's per-IP counter (the key RateLimitStore.hit counts), counted once per request.
    const [counter] = execFileSync('redis-cli', ['-p', String(redis.port), '--scan', '--pattern', `${prefix}{t:ip:*`]).toString().trim().split('\n');
    expect(Number(execFileSync('redis-cli', ['-p', String(redis.port), 'HGET', counter, 'c']).toString())).toBe(5);
    // A forged token is refused before the call: its IP count is one hit (one script), never skipped.
    const forged = `${bearer.slice(0, -4)}AAAA`;
    const afterValid = scriptCalls(redis.port);
    expect((await whoami(app, forged)).status).toBe(401);
    expect(scriptCalls(redis.port) - afterValid).toBe(1);
    expect(Number(execFileSync('redis-cli', ['-p', String(redis.port), 'HGET', counter, 'c']).toString())).toBe(6);
  });

  it('over the limit: refused by the call (429 first, whatever the token), then before any token work and with no round trip', async () => {
    const app = await start(ipLimited(redis.url, `one-${adapter}-b:`, 3));
    const bearer = await token(app, 'bob');
    for (let i = 0; i < 3; i++) expect((await whoami(app, bearer)).status).toBe(200);
    const verify = jest.spyOn(app.get(AccessTokenVerifier), 'verify');
    const before = scriptCalls(redis.port);
    const over = await whoami(app, bearer);
    expect(over.status).toBe(429);
    expect(over.body.code).toBe('rate_limited');
    expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
    expect(scriptCalls(redis.port) - before).toBe(1);
    // The block is known here now: forged or valid, the next requests cost no verification and no command.
    for (const presented of [bearer, `${bearer.slice(0, -4)}AAAA`, 'not-a-token']) {
      const refused = await whoami(app, presented);
      expect(refused.status).toBe(429);
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    }
    expect(verify).toHaveBeenCalledTimes(1);
    expect(scriptCalls(redis.port) - before).toBe(1);
  });

  it('a flood of forged tokens is counted too: past the limit it costs no crypto', async () => {
    const app = await start(ipLimited(redis.url, `one-${adapter}-c:`, 5));
    const bearer = await token(app, 'carol');
    const forged = `${bearer.slice(0, -4)}AAAA`;
    const verify = jest.spyOn(app.get(AccessTokenVerifier), 'verify');
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await whoami(app, forged)).status);
    expect(statuses).toEqual([...Array(5).fill(401), ...Array(15).fill(429)]);
    // Five refused as forged, the sixth over the limit (counted by its hit), then none verified at all.
    expect(verify).toHaveBeenCalledTimes(6);
  });

  it('counting is exact across instances: two apps on one Redis share each client budget', async () => {
    const prefix = `one-${adapter}-d:`;
    const [a, b] = [await start(ipLimited(redis.url, prefix, 4)), await start(ipLimited(redis.url, prefix, 4))];
    const bearer = await token(a, 'dave');
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await whoami(i % 2 === 0 ? a : b, bearer)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
  });
});

describe('one wait per authenticated request on Redis Cluster', () => {
  let cluster: RedisClusterServer;
  let app: INestApplication;
  beforeAll(async () => {
    cluster = await RedisClusterServer.start();
    app = await startFixture('express', JwtDefenseModule.forRoot(ipLimited(cluster.clusterNodes, 'one-cluster:', 3)), [WhoamiController]);
  });
  afterAll(async () => {
    await app?.close();
    await cluster?.destroy();
  });

  it('the IP counter (its own slot) and the user state go as two scripts, the second sent before the first answers', async () => {
    const store = app.get<RedisDefenseStore>(DefenseStore);
    const client = store.client as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    const order: string[] = [];
    for (const command of ['jwtdCheck', 'jwtdCheckApart0']) {
      const original = client[command].bind(client);
      client[command] = (...args: unknown[]) => {
        order.push(`send ${command}`);
        return original(...args).finally(() => order.push(`answer ${command}`));
      };
    }
    const bearer = (await app.get(TokenService).issue('erin', { roles: ['user'] })).token;
    const before = cluster.nodes.reduce((sum, node) => sum + scriptCalls(node.port), 0);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await request(app.getHttpServer()).get('/whoami').set('Authorization', `Bearer ${bearer}`)).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(cluster.nodes.reduce((sum, node) => sum + scriptCalls(node.port), 0) - before).toBe(2 * 4);
    // Each request sends both before either answers: one wait, not two in a row.
    for (let i = 0; i < 4; i++) expect(order.slice(4 * i, 4 * i + 2)).toEqual(['send jwtdCheck', 'send jwtdCheckApart0']);
  });
});

import { Body, Controller, Get, HttpCode, Post, type INestApplication } from '@nestjs/common';
import request from 'supertest';
import { DefensePolicy, JwtDefenseModule, Public, SecurityEventService, TokenService, type JwtDefenseModuleOptions, type SecurityEvent } from '@jwt-defense/core';
import { DefenseStore, type DefenseStore as Store } from '@jwt-defense/core/store';
import type { HttpAdapterName } from '../apps/demo/src/demo.config.js';
import { ADAPTERS } from './support/demo-app.js';
import { FailModeController, fixtureOptions, startFixture } from './fixtures/fixture.app.js';
import { RedisClusterServer, RedisServer, untilStoreAnswers } from './support/redis-server.js';

// throttle.insurance (#23 item 5): with the store down, each limit is counted on the instance with its share,
// ceil(limit / instances), instead of its fail mode (per-IP open, body-field closed).

const COMMAND_TIMEOUT_MS = 300;
const INSTANCES = 2;
const LIMIT = 4;
const SHARE = Math.ceil(LIMIT / INSTANCES);

/** A login-like route with a per-username limit only (no per-IP one, so that each limit is seen alone), and a route failing closed. */
@Controller('insured')
class InsuredLoginController {
  @Public()
  @DefensePolicy({ throttle: { ip: false, body: { field: 'username', limit: LIMIT, ttlMs: 60_000 } } })
  @Post('login')
  @HttpCode(200)
  login(@Body() body: { username?: string }) {
    return { username: body.username };
  }

  /** The ONE call failing closed (no per-IP limit here either). */
  @DefensePolicy({ failMode: 'closed', throttle: { ip: false } })
  @Get('closed')
  closed() {
    return { ok: true };
  }
}

interface Booted {
  app: INestApplication;
  events: SecurityEvent[];
  auth: string;
}

async function boot(adapter: HttpAdapterName, store: JwtDefenseModuleOptions['store'], insured: boolean): Promise<Booted> {
  const app = await startFixture(
    adapter,
    JwtDefenseModule.forRoot(
      fixtureOptions({
        store,
        throttle: { ip: { limit: LIMIT, ttlMs: 60_000 }, ...(insured ? { insurance: { instances: INSTANCES } } : {}) },
        // The ONE call's own fail mode lets the request through: only the limits decide here.
        revocation: { failMode: 'open', cleanupCron: false, globalStateRefreshMs: 3_600_000 },
      }),
    ),
    [FailModeController, InsuredLoginController],
  );
  const events: SecurityEvent[] = [];
  app.get(SecurityEventService).events$.subscribe((event) => events.push(event));
  const auth = `Bearer ${(await app.get(TokenService).issue('carol')).token}`;
  // Warm-up while the store answers (the scripts loaded, the token verified): counted by the store, which loses it.
  expect((await request(app.getHttpServer()).get('/store/open').set('Authorization', auth)).status).toBe(200);
  return { app, events, auth };
}

const me = (booted: Booted) => request(booted.app.getHttpServer()).get('/store/open').set('Authorization', booted.auth).timeout(COMMAND_TIMEOUT_MS * 6);
const login = (booted: Booted, username: string) => request(booted.app.getHttpServer()).post('/insured/login').send({ username }).timeout(COMMAND_TIMEOUT_MS * 6);
const insuranceEvents = (booted: Booted) =>
  booted.events.filter((event) => event.type === 'store_unavailable' && event.details?.failMode === 'insurance' && event.details.layer === 'throttle');

/** The client the insurance refused, once the store is back (restarted empty): the store's limit, not the share. */
async function storeCountsAgain(booted: Booted): Promise<void> {
  const statuses: number[] = [];
  for (let i = 0; i < LIMIT + 1; i++) statuses.push((await me(booted)).status);
  expect(statuses).toEqual([...Array(LIMIT).fill(200), 429]);
}

/** The per-IP limit of an authenticated route, then a body-field limit, with the store down (statuses in order). */
async function outage(booted: Booted) {
  const ip: number[] = [];
  for (let i = 0; i < SHARE + 1; i++) ip.push((await me(booted)).status);
  const body: number[] = [];
  for (let i = 0; i < SHARE + 1; i++) body.push((await login(booted, 'alice')).status);
  return { ip, body };
}

describe.each(ADAPTERS)('throttle.insurance on Redis over %s', (adapter) => {
  let redis: RedisServer;
  let insured: Booted;
  let uninsured: Booted;

  beforeAll(async () => {
    redis = await RedisServer.start();
    const store = (prefix: string): JwtDefenseModuleOptions['store'] => ({ type: 'redis', connection: redis.url, keyPrefix: `${prefix}-${adapter}:`, commandTimeoutMs: COMMAND_TIMEOUT_MS });
    [insured, uninsured] = await Promise.all([boot(adapter, store('insured'), true), boot(adapter, store('uninsured'), false)]);
  }, 30_000);
  afterAll(async () => {
    await Promise.all([insured?.app.close(), uninsured?.app.close()]);
    await redis.destroy();
  });

  it(`Redis stopped: the per-IP and the body-field limits refuse above the instance's share (${SHARE} of ${LIMIT}), with a store_unavailable event, and a route failing closed still 503; without insurance, their fail modes (open: all through; closed: 503)`, async () => {
    await redis.stop();

    const withInsurance = await outage(insured);
    expect(withInsurance.ip).toEqual([...Array(SHARE).fill(200), 429]);
    expect(withInsurance.body).toEqual([...Array(SHARE).fill(200), 429]);
    const limited = await me(insured);
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe('rate_limited');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Another username has its own share.
    expect((await login(insured, 'bob')).status).toBe(200);
    expect(insuranceEvents(insured).length).toBeGreaterThanOrEqual(1); // sampled: one per layer per 5 s
    expect(insuranceEvents(insured)[0]).toMatchObject({ details: { reason: 'DefenseStoreError' } });

    // Insurance replaces a limit's fail mode only: the ONE call failing closed is still a 503.
    const closed = await request(insured.app.getHttpServer()).get('/insured/closed').set('Authorization', insured.auth).timeout(COMMAND_TIMEOUT_MS * 6);
    expect(closed.status).toBe(503);
    expect(closed.body.code).toBe('defense_store_unavailable');

    const withoutInsurance = await outage(uninsured);
    expect(withoutInsurance.ip).toEqual(Array(SHARE + 1).fill(200));
    expect(withoutInsurance.body).toEqual(Array(SHARE + 1).fill(503));
    expect(insuranceEvents(uninsured)).toEqual([]);
  }, 30_000);

  it('Redis back: the store counts again (its limit, not the share), without a restart', async () => {
    await redis.resume();
    await untilStoreAnswers(insured.app.get<Store>(DefenseStore));
    await storeCountsAgain(insured);
  }, 30_000);
});

// Stopping a whole Cluster and bringing it back takes seconds: one Cluster for both adapters, stopped once.
describe('throttle.insurance on Redis Cluster', () => {
  let cluster: RedisClusterServer;
  const apps = new Map<HttpAdapterName, Booted>();

  beforeAll(async () => {
    cluster = await RedisClusterServer.start();
    for (const adapter of ADAPTERS) {
      apps.set(adapter, await boot(adapter, { type: 'redis', connection: { clusterNodes: cluster.clusterNodes }, keyPrefix: `insured-${adapter}:`, commandTimeoutMs: COMMAND_TIMEOUT_MS }, true));
    }
    await Promise.all(cluster.nodes.map((node) => node.stop()));
  }, 60_000);
  afterAll(async () => {
    await Promise.all([...apps.values()].map((booted) => booted.app.close()));
    await cluster.destroy();
  });

  it.each(ADAPTERS)('every master stopped, over %s: the limits refuse above the share, with a store_unavailable event', async (adapter) => {
    const booted = apps.get(adapter)!;
    const { ip, body } = await outage(booted);
    expect(ip).toEqual([...Array(SHARE).fill(200), 429]);
    expect(body).toEqual([...Array(SHARE).fill(200), 429]);
    expect(insuranceEvents(booted).length).toBeGreaterThanOrEqual(1);
  }, 30_000);

  it('every master back: the store counts again, over both adapters', async () => {
    await Promise.all(cluster.nodes.map((node) => node.resume()));
    for (const booted of apps.values()) {
      await untilStoreAnswers(booted.app.get<Store>(DefenseStore));
      await storeCountsAgain(booted);
    }
  }, 60_000);
});

import { Controller, Get, type INestApplication } from '@nestjs/common';
import { HealthCheck, HealthCheckService, TerminusModule } from '@nestjs/terminus';
import request from 'supertest';
import { DefenseHealthIndicator, JwtDefenseModule, Public, type FailMode } from '@jwt-defense/core';
import { ADAPTERS } from './support/demo-app.js';
import { fixtureOptions, startFixture } from './fixtures/fixture.app.js';
import { RedisServer } from './support/redis-server.js';

// DefenseHealthIndicator answers in the shape @nestjs/terminus aggregates, without depending on it: shown here with the
// real HealthCheckService, as an app that keeps its own terminus probes uses it, on a real Redis that is then stopped.

@Public()
@Controller('probe')
class TerminusProbeController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly defense: DefenseHealthIndicator,
  ) {}

  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check([() => this.defense.isHealthy()]);
  }
}

describe.each(ADAPTERS)("DefenseHealthIndicator in @nestjs/terminus's HealthCheckService over %s", (adapter) => {
  let redis: RedisServer;
  const apps: Partial<Record<FailMode, INestApplication>> = {};

  beforeAll(async () => {
    redis = await RedisServer.start();
    for (const failMode of ['closed', 'open'] as const) {
      const defense = JwtDefenseModule.forRoot(
        fixtureOptions({ store: { type: 'redis', connection: redis.url, keyPrefix: `terminus-${adapter}-${failMode}:`, commandTimeoutMs: 200 }, revocation: { failMode, cleanupCron: false } }),
      );
      apps[failMode] = await startFixture(adapter, [defense, TerminusModule.forRoot()], [TerminusProbeController]);
    }
  }, 30_000);
  afterAll(async () => {
    for (const app of Object.values(apps)) await app?.close();
    await redis?.destroy();
  });

  const ready = (failMode: FailMode) => request(apps[failMode]!.getHttpServer()).get('/probe/ready');

  it('is up while Redis answers; when it stops, down (a 503) when failing closed and degraded (a 200) when failing open', async () => {
    for (const failMode of ['closed', 'open'] as const) {
      const up = await ready(failMode);
      expect([up.status, up.body.status, up.body.info.defense_store]).toEqual([200, 'ok', expect.objectContaining({ status: 'up', store: 'redis', failMode })]);
    }
    await redis.stop();
    try {
      const closed = await ready('closed');
      expect(closed.status).toBe(503);
      const open = await ready('open');
      expect([open.status, open.body.info.defense_store]).toEqual([200, expect.objectContaining({ status: 'degraded', failMode: 'open', reason: expect.stringContaining(`127.0.0.1:${redis.port}`) })]);
    } finally {
      await redis.resume();
    }
  }, 30_000);
});

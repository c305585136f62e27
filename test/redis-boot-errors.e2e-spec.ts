import type { DynamicModule, INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import request from 'supertest';
import { DefenseHealthIndicator, JwtDefenseModule, TokenService } from '@jwt-defense/core';
import type { HttpAdapterName } from '../apps/demo/src/demo.config.js';
import { ADAPTERS } from './support/demo-app.js';
import { FailModeController, FixtureModule, fixtureOptions } from './fixtures/fixture.app.js';
import { freePort, RedisServer } from './support/redis-server.js';

// A Redis the module cannot use at boot. The app still boots (docs/RELIABILITY.md: each layer applies its fail mode
// until the store answers), and everything it says names where Redis was expected (host:port) and why it failed
// (ECONNREFUSED, ENOTFOUND, WRONGPASS), never a password or the URL that holds one.

const PASSWORD = 'boot-pw-3b9e1d7c55';
const WRONG_PASSWORD = 'wrong-pw-8a2f6c4e19';
const CLOSED_PORT_PASSWORD = 'closed-pw-5d1c9e7b33';

const redisStore = (connection: string) => ({ type: 'redis' as const, connection, keyPrefix: 'boot-errors:', commandTimeoutMs: 200 });

async function boot(adapter: HttpAdapterName, defense: DynamicModule, logger: false | Array<'error' | 'warn' | 'log'> = ['error', 'warn', 'log']): Promise<INestApplication> {
  const module = FixtureModule.register(defense, [FailModeController]);
  const options = { logger, abortOnError: false };
  const app =
    adapter === 'fastify'
      ? await NestFactory.create<NestFastifyApplication>(module, new FastifyAdapter(), options)
      : await NestFactory.create(module, new ExpressAdapter(), options);
  await app.init();
  if (adapter === 'fastify') await (app as NestFastifyApplication).getHttpAdapter().getInstance().ready();
  return app;
}

describe('a Redis store that cannot be reached at boot', () => {
  let redis: RedisServer;
  let closedPort: number;
  const written: string[] = [];
  const apps = new Map<string, INestApplication>();
  const secrets = [PASSWORD, WRONG_PASSWORD, CLOSED_PORT_PASSWORD];
  const output = () => written.join('');

  beforeAll(async () => {
    redis = await RedisServer.start({ requirePass: PASSWORD });
    closedPort = await freePort(); // found free, and nothing listens on it
    for (const stream of [process.stdout, process.stderr]) {
      jest.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array) => {
        written.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
        return true;
      });
    }
    // Each boot waits the module's 5 s for Redis: all at once, so the suite pays it once.
    const boots: Array<[string, HttpAdapterName, string]> = [
      ...ADAPTERS.map((adapter): [string, HttpAdapterName, string] => [`closed ${adapter}`, adapter, `redis://jwtd:${CLOSED_PORT_PASSWORD}@127.0.0.1:${closedPort}`]),
      ['wrong password', 'express', redis.urlFor({ password: WRONG_PASSWORD })],
      ['unknown host', 'express', `redis://:${PASSWORD}@jwtd-boot-errors.invalid:6390`],
    ];
    await Promise.all(
      boots.map(async ([name, adapter, url]) => apps.set(name, await boot(adapter, JwtDefenseModule.forRoot(fixtureOptions({ store: redisStore(url) }))))),
    );
  }, 30_000);
  afterAll(async () => {
    await Promise.all([...apps.values()].map((app) => app.close()));
    jest.restoreAllMocks();
    await redis?.destroy();
  });

  describe.each(ADAPTERS)('on a closed loopback port, over %s', (adapter) => {
    const app = () => apps.get(`closed ${adapter}`)!;

    it('boots, and a fail-closed route answers the declared 503', async () => {
      const token = (await app().get(TokenService).issue('carol')).token;
      const res = await request(app().getHttpServer()).get('/store/closed').set('Authorization', `Bearer ${token}`);
      expect([res.status, res.body.code]).toEqual([503, 'defense_store_unavailable']);
      expect(res.headers['retry-after']).toBe('1');
      for (const secret of secrets) expect(res.text).not.toContain(secret);
    });

    it("the readiness indicator's reason names host:port and ECONNREFUSED", async () => {
      const { defense_store: health } = await app().get(DefenseHealthIndicator).isHealthy();
      expect(health.status).toBe('down');
      expect(health.reason).toContain(`127.0.0.1:${closedPort}`);
      expect(health.reason).toContain('ECONNREFUSED');
    });
  });

  it('the log names host:port and the error at once, and the boot wait that gave up says so too', () => {
    const at = `Redis at 127.0.0.1:${closedPort}`;
    expect(output()).toContain(`${at} cannot be reached (ECONNREFUSED)`);
    expect(output()).toContain(`defence store not reachable at boot: ${at} not ready after 5000 ms (ECONNREFUSED)`);
  });

  it('a wrong password is named by its error (WRONGPASS) with host:port; an unknown host by ENOTFOUND', () => {
    expect(output()).toContain(`Redis at 127.0.0.1:${redis.port} cannot be reached (WRONGPASS)`);
    expect(output()).toMatch(/Redis at jwtd-boot-errors\.invalid:6390 cannot be reached \((ENOTFOUND|EAI_AGAIN)\)/);
  });

  it('no password, plain or percent-encoded, and no URL with credentials appears in any log line', async () => {
    const reasons = await Promise.all([...apps.values()].map(async (app) => JSON.stringify(await app.get(DefenseHealthIndicator).isHealthy())));
    const seen = [output(), ...reasons].join('\n');
    expect(seen).toContain('not ready after'); // the check below reads real lines
    for (const secret of secrets) {
      expect(seen).not.toContain(secret);
      expect(seen).not.toContain(encodeURIComponent(secret));
    }
    expect(seen).not.toMatch(/rediss?:\/\/[^\s"]*@/);
  });
});

describe('a malformed Redis URL', () => {
  it.each([
    ['a port out of range', `redis://:${PASSWORD}@127.0.0.1:99999`],
    ['another scheme', `http://:${PASSWORD}@127.0.0.1:6379`],
    ['no scheme and a port out of range', `127.0.0.1:99999`],
    ['a path that is no database number', `redis://:${PASSWORD}@127.0.0.1:6379/cache`],
    ['a broken percent-encoding in the password', `redis://:${PASSWORD}%zz@127.0.0.1:6379`],
  ])('(%s) stops the boot with a TypeError naming store.connection, and not the URL', async (_name, connection) => {
    const booting = boot('express', JwtDefenseModule.forRoot(fixtureOptions({ store: redisStore(connection) })), false);
    const error = await booting.then(
      () => undefined,
      (thrown: unknown) => thrown as Error,
    );
    expect(error).toBeInstanceOf(TypeError);
    expect(error?.message).toMatch(/store\.connection /);
    expect(error?.message).not.toContain(PASSWORD);
    expect(error?.message).not.toContain('127.0.0.1');
  });
});

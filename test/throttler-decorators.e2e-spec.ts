import { Controller, Get, UseGuards, type INestApplication } from '@nestjs/common';
import { APP_GUARD, Reflector } from '@nestjs/core';
import { getOptionsToken, getStorageToken, SkipThrottle, Throttle, ThrottlerGuard, ThrottlerModule } from '@nestjs/throttler';
import request from 'supertest';
import { JwtDefenseModule, MemoryThrottlerStorage, Public } from '@jwt-defense/core';
import { ADAPTERS } from './support/demo-app.js';
import { fixtureOptions, startFixture } from './fixtures/fixture.app.js';

@Public()
@Controller('limits')
class LimitsController {
  @Get('default')
  byDefault() {
    return { ok: true };
  }

  @SkipThrottle()
  @Get('skipped')
  skipped() {
    return { ok: true };
  }

  @Throttle({ default: { limit: 2, ttl: 60_000 } })
  @Get('tight')
  tight() {
    return { ok: true };
  }
}

@Public()
@SkipThrottle()
@Controller('quiet')
class QuietController {
  @Get()
  quiet() {
    return { ok: true };
  }

  @SkipThrottle({ default: false })
  @Get('loud')
  loud() {
    return { ok: true };
  }
}

async function statuses(app: INestApplication, path: string, count: number): Promise<number[]> {
  const seen: number[] = [];
  for (let i = 0; i < count; i++) seen.push((await request(app.getHttpServer()).get(path)).status);
  return seen;
}

describe.each(ADAPTERS)("@nestjs/throttler's @Throttle() and @SkipThrottle() over %s", (adapter) => {
  let app: INestApplication;
  beforeEach(async () => {
    app = await startFixture(adapter, JwtDefenseModule.forRoot(fixtureOptions({ throttle: { ip: { limit: 5, ttlMs: 60_000 } } })), [LimitsController, QuietController]);
  });
  afterEach(() => app.close());

  it('a route without them has the module limit', async () => {
    expect(await statuses(app, '/limits/default', 7)).toEqual([200, 200, 200, 200, 200, 429, 429]);
  });

  it('@SkipThrottle() on a handler: never limited, and it does not spend the client budget', async () => {
    expect(await statuses(app, '/limits/skipped', 20)).toEqual(Array(20).fill(200));
    expect(await statuses(app, '/limits/default', 5)).toEqual(Array(5).fill(200));
  });

  it('@SkipThrottle() on a controller, and @SkipThrottle({ default: false }) on one of its handlers', async () => {
    expect(await statuses(app, '/quiet', 12)).toEqual(Array(12).fill(200));
    expect(await statuses(app, '/quiet/loud', 7)).toEqual([200, 200, 200, 200, 200, 429, 429]);
  });

  it('@Throttle({ default }) sets the route its own limit, with Retry-After on the 429', async () => {
    const server = app.getHttpServer();
    expect(await statuses(app, '/limits/tight', 2)).toEqual([200, 200]);
    const refused = await request(server).get('/limits/tight');
    expect(refused.status).toBe(429);
    expect(refused.body.code).toBe('rate_limited');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(59);
    // Its own counter: the rest of the client's budget is untouched.
    expect(await statuses(app, '/limits/default', 5)).toEqual(Array(5).fill(200));
  });

  it('sends no X-RateLimit-* headers (the stock guard does not run)', async () => {
    const res = await request(app.getHttpServer()).get('/limits/default');
    expect(Object.keys(res.headers).filter((name) => name.startsWith('x-ratelimit'))).toEqual([]);
  });
});

// Named throttlers (`ThrottlerModule.forRoot([{ name: 'short', ... }])`) are not windows of this module's limits yet: a
// decorator naming one would do nothing at all, so the app does not boot, and the error says what to use (#22, item 5).
@Public()
@Controller('named')
class NamedThrottleController {
  @Throttle({ short: { limit: 3, ttl: 1000 } })
  @Get()
  named() {
    return { ok: true };
  }
}

@Public()
@SkipThrottle({ burst: true })
@Controller('named-skip')
class NamedSkipController {
  @Get()
  named() {
    return { ok: true };
  }
}

describe.each(ADAPTERS)('a throttler name jwt-defense does not count, over %s', (adapter) => {
  it.each([
    ['@Throttle({ short })', NamedThrottleController, /@Throttle of NamedThrottleController\.named names the throttler "short".*"default", "ip", "user".*@DefensePolicy\(\{ throttle/],
    ['@SkipThrottle({ burst })', NamedSkipController, /@SkipThrottle of NamedSkipController\.named names the throttler "burst".*"body"/],
  ])('%s stops the boot with its name and what to use instead', async (_name, controller, message) => {
    await expect(startFixture(adapter, JwtDefenseModule.forRoot(fixtureOptions({ revocation: { cleanupCron: false } })), [controller])).rejects.toThrow(message);
  });
});

// An app that keeps its own ThrottlerModule beside jwt-defense: its throttlers are windows only where a ThrottlerGuard
// runs (with our storage or any other). With no ThrottlerGuard at all, nothing reads them: refused at boot (#22, item 5).
@Public()
@Controller('short')
class ShortController {
  @Throttle({ short: { limit: 3, ttl: 60_000 } })
  @Get()
  short() {
    return { ok: true };
  }
}

@Public()
@UseGuards(ThrottlerGuard)
@Controller('counted')
class CountedController {
  @Throttle({ short: { limit: 2, ttl: 60_000 } })
  @Get()
  counted() {
    return { ok: true };
  }
}

const keepsItsThrottler = fixtureOptions({ throttle: { ip: false, user: false }, revocation: { cleanupCron: false } });
const shortWindow = () => ThrottlerModule.forRoot({ throttlers: [{ name: 'short', limit: 5, ttl: 60_000 }], storage: new MemoryThrottlerStorage() });

describe.each(ADAPTERS)("the app's own ThrottlerModule beside jwt-defense, over %s", (adapter) => {
  it.each([
    [
      'named throttlers',
      ThrottlerModule.forRoot([{ name: 'short', limit: 3, ttl: 1000 }, { name: 'long', limit: 100, ttl: 60_000 }]),
      /ThrottlerModule's throttlers "short", "long" limit nothing: no ThrottlerGuard runs.*throttle\.profiles: \{ "short": \{ ip: \{ limit: 3, ttlMs: 1000 \} \} \}.*"long".*register ThrottlerGuard/,
    ],
    [
      'the default throttler, even on our storage',
      ThrottlerModule.forRoot({ throttlers: [{ limit: 10, ttl: 60_000 }], storage: new MemoryThrottlerStorage() }),
      /ThrottlerModule's throttler "default" limits nothing.*throttle\.ip: \{ limit: 10, ttlMs: 60000 \}/,
    ],
  ])('with no ThrottlerGuard anywhere, %s: the boot stops with their names and the throttle option to use', async (_name, throttlerModule, message) => {
    await expect(startFixture(adapter, [JwtDefenseModule.forRoot(keepsItsThrottler), throttlerModule], [ShortController])).rejects.toThrow(message);
  });

  it("a ThrottlerGuard on one controller: @Throttle({ short }) on another route is still refused (that guard never sees it)", async () => {
    await expect(startFixture(adapter, [JwtDefenseModule.forRoot(keepsItsThrottler), shortWindow()], [CountedController, ShortController])).rejects.toThrow(
      /@Throttle of ShortController\.short names the throttler "short"/,
    );
  });

  it("with a ThrottlerGuard given to main.ts's app.useGlobalGuards(): boots, and the named throttler of @Throttle({ short }) counts", async () => {
    const app = await startFixture(adapter, [JwtDefenseModule.forRoot(keepsItsThrottler), shortWindow()], [ShortController], {
      // Built by hand, as main.ts would: Nest runs no lifecycle hook on it, so its throttlers are read here.
      beforeInit: async (nest) => {
        const guard = new ThrottlerGuard(nest.get(getOptionsToken()), nest.get(getStorageToken()), nest.get(Reflector));
        await guard.onModuleInit();
        nest.useGlobalGuards(guard);
      },
    });
    try {
      expect(await statuses(app, '/short', 5)).toEqual([200, 200, 200, 429, 429]);
    } finally {
      await app.close();
    }
  });

  describe.each([
    ['a global ThrottlerGuard (APP_GUARD)', [ShortController], [{ provide: APP_GUARD, useClass: ThrottlerGuard }], '/short', 3],
    ['@UseGuards(ThrottlerGuard) on the controller', [CountedController], [], '/counted', 2],
  ])('with %s and our storage', (_name, controllers, providers, path, limit) => {
    let app: INestApplication;
    beforeAll(async () => {
      app = await startFixture(adapter, [JwtDefenseModule.forRoot(keepsItsThrottler), shortWindow()], controllers, { providers });
    });
    afterAll(() => app.close());

    it('boots, and the named throttler of @Throttle({ short }) counts on the route', async () => {
      expect(await statuses(app, path, limit + 2)).toEqual([...Array(limit).fill(200), 429, 429]);
    });
  });
});

import { Controller, Get, HttpCode, Injectable, Post, UseGuards, type INestApplication } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { Throttle } from '@nestjs/throttler';
import request from 'supertest';
import { DefensePolicy, JwtDefenseGuard, JwtDefenseModule, Public } from '@jwt-defense/core';
import { ADAPTERS } from './support/demo-app.js';
import { fixtureOptions, startFixture } from './fixtures/fixture.app.js';
import { CapturedLogs } from './support/captured-logs.js';

// Route-by-route rollout (`globalGuard: false`): a route whose @DefensePolicy or @Throttle only JwtDefenseGuard
// enforces, with no JwtDefenseGuard on it, is named by a boot warning (#22, item 6): such a login took 15 wrong
// passwords with no limit.

@Public()
@Controller('auth')
class LoginController {
  @DefensePolicy({ throttle: { ip: { limit: 2, ttlMs: 60_000 } } })
  @HttpCode(200)
  @Post('login')
  login() {
    return { ok: true };
  }

  @Throttle({ default: { limit: 2, ttl: 60_000 } })
  @Get('tight')
  tight() {
    return { ok: true };
  }

  /** Only relaxes: nothing to enforce. */
  @DefensePolicy({ throttle: false })
  @Get('open')
  open() {
    return { ok: true };
  }

  @Get('plain')
  plain() {
    return { ok: true };
  }
}

@DefensePolicy({ roles: ['admin'] })
@Controller('admin')
class AdminController {
  @Get()
  list() {
    return { ok: true };
  }

  /** Not a route: the controller's policy never applies to it. */
  helper() {
    return 'not a route';
  }
}

@Public()
@UseGuards(JwtDefenseGuard)
@Controller('guarded')
class GuardedController {
  @DefensePolicy({ throttle: { ip: { limit: 2, ttlMs: 60_000 } } })
  @HttpCode(200)
  @Post('login')
  login() {
    return { ok: true };
  }
}

@Public()
@Controller('method-guarded')
class MethodGuardedController {
  @UseGuards(JwtDefenseGuard)
  @Throttle({ default: { limit: 2, ttl: 60_000 } })
  @Get()
  tight() {
    return { ok: true };
  }
}

/** An app's own guard: a subclass of JwtDefenseGuard registered as its APP_GUARD. */
@Injectable()
class AppDefenseGuard extends JwtDefenseGuard {}

const CONTROLLERS = [LoginController, AdminController, GuardedController, MethodGuardedController];

/** The routes named by the unguarded-route warning, in order. */
const unguarded = (logs: CapturedLogs): string[] =>
  logs.warnings.filter((line) => line.includes('no JwtDefenseGuard runs on it')).map((line) => line.slice(0, line.indexOf(') has ') + 1));

const options = (globalGuard: boolean) => ({ ...fixtureOptions({ revocation: { cleanupCron: false } }), globalGuard });

describe.each(ADAPTERS)('globalGuard: false, routes that no JwtDefenseGuard covers, over %s', (adapter) => {
  let app: INestApplication;
  const logs = new CapturedLogs();
  beforeAll(async () => {
    app = await startFixture(adapter, JwtDefenseModule.forRoot(options(false)), CONTROLLERS, { logger: logs });
  });
  afterAll(() => app.close());

  it('a boot warning names each one, with its route and what is not enforced; none for guarded, relaxed or plain routes', () => {
    expect(unguarded(logs)).toEqual(['LoginController.login (POST /auth/login)', 'LoginController.tight (GET /auth/tight)', 'AdminController.list (GET /admin)']);
    const [login, tight, admin] = logs.warnings.filter((line) => line.includes('no JwtDefenseGuard runs on it'));
    expect(login).toContain('@DefensePolicy({ throttle })');
    expect(tight).toContain('@Throttle()');
    expect(admin).toContain('@DefensePolicy({ roles })');
    expect(login).toContain('@UseGuards(JwtDefenseGuard)');
  });

  it('what the warning is about: the unguarded login answers every attempt, the guarded one stops at its limit', async () => {
    const server = app.getHttpServer();
    const unguarded = [];
    for (let i = 0; i < 15; i++) unguarded.push((await request(server).post('/auth/login')).status);
    expect(unguarded).toEqual(Array(15).fill(200));
    const guarded = [];
    for (let i = 0; i < 3; i++) guarded.push((await request(server).post('/guarded/login')).status);
    expect(guarded).toEqual([200, 200, 429]);
  });
});

describe.each(ADAPTERS)('no unguarded-route warning when a JwtDefenseGuard covers every route, over %s', (adapter) => {
  it.each([
    ['globalGuard: true', options(true), []],
    ['globalGuard: false and a JwtDefenseGuard subclass as the APP_GUARD of the app', options(false), [{ provide: APP_GUARD, useClass: AppDefenseGuard }]],
  ])('%s', async (_name, moduleOptions, providers) => {
    const logs = new CapturedLogs();
    const app = await startFixture(adapter, JwtDefenseModule.forRoot(moduleOptions), CONTROLLERS, { providers, logger: logs });
    try {
      expect(unguarded(logs)).toEqual([]);
      // The guard runs: the login stops at its limit.
      const statuses = [];
      for (let i = 0; i < 3; i++) statuses.push((await request(app.getHttpServer()).post('/auth/login')).status);
      expect(statuses).toEqual([200, 200, 429]);
    } finally {
      await app.close();
    }
  });
});

import { Module, type DynamicModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import { JwtDefenseModule, type StoreOptions } from '@jwt-defense/core';
import { AdminController, HealthController, JwksController, MeController } from './api/api.controllers.js';
import { AuthController } from './auth/auth.controller.js';
import { UsersService } from './auth/users.service.js';
import type { DemoConfig } from './demo.config.js';
import { loadDemoKeys } from './demo.keys.js';
import { DemoThrottlerGuard } from './demo-throttler.guard.js';

const isLogin = (handler: unknown) => handler === AuthController.prototype.login;

function usernameOf(request: { body?: unknown }): string {
  const username = (request.body as { username?: unknown } | undefined)?.username;
  return typeof username === 'string' ? username.slice(0, 64).toLowerCase() : '';
}

/** REDIS_URL: one URL (standalone), or a comma-separated list of Cluster nodes; absent: memory store. */
function storeOptions(config: DemoConfig): StoreOptions {
  if (!config.redisUrl) return { type: 'memory' };
  const urls = config.redisUrl.split(',').map((url) => url.trim()).filter(Boolean);
  const keyPrefix = config.redisKeyPrefix;
  if (urls.length === 1) return { type: 'redis', connection: urls[0], keyPrefix };
  const clusterNodes = urls.map((url) => {
    const { hostname, port } = new URL(url);
    return { host: hostname, port: Number(port || 6379) };
  });
  return { type: 'redis', connection: { clusterNodes }, keyPrefix };
}

@Module({})
export class AppModule {
  static forRoot(config: DemoConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        JwtDefenseModule.forRoot({
          issuer: config.issuer,
          audience: config.audience,
          keys: loadDemoKeys(config),
          accessTokenTtlSec: config.accessTokenTtlSec,
          store: storeOptions(config),
        }),
        ThrottlerModule.forRoot({
          throttlers: [
            {
              // One budget per client across every route (the stock key is per route).
              name: 'default',
              limit: config.throttleLimit,
              ttl: config.throttleTtlMs,
              generateKey: (_context, tracker) => `client:${tracker}`,
            },
            {
              name: 'login-ip',
              limit: config.loginLimit,
              ttl: config.loginTtlMs,
              skipIf: (context) => !isLogin(context.getHandler()),
            },
            {
              // Credential stuffing spreads over IPs: also count attempts per username.
              name: 'login-user',
              limit: config.loginLimit,
              ttl: config.loginTtlMs,
              skipIf: (context) => !isLogin(context.getHandler()),
              getTracker: (request) => usernameOf(request),
            },
          ],
        }),
      ],
      controllers: [AuthController, MeController, HealthController, JwksController, AdminController],
      providers: [
        UsersService,
        // The root module's global guards run before those of imported modules: throttling comes
        // before token verification, so floods of forged tokens are limited too.
        { provide: APP_GUARD, useClass: DemoThrottlerGuard },
      ],
    };
  }
}

import { readFileSync } from 'node:fs';
import { Module, type DynamicModule } from '@nestjs/common';
import { JwtDefenseModule, type JwtDefenseModuleOptions } from '@jwt-defense/core';
import { AdminController, HealthController, JwksController, MeController } from './api/api.controllers.js';
import { AuthController } from './auth/auth.controller.js';
import { UsersService } from './auth/users.service.js';
import type { DemoConfig } from './demo.config.js';
import { loadDemoKeys } from './demo.keys.js';

/** REDIS_URL: one URL (standalone), or a comma-separated list of Cluster nodes; absent: memory store. */
function storeOptions(config: DemoConfig): JwtDefenseModuleOptions['store'] {
  if (!config.redisUrl) return { type: 'memory' };
  const urls = config.redisUrl.split(',').map((url) => url.trim()).filter(Boolean);
  const { redisKeyPrefix: keyPrefix, redisCommandTimeoutMs: commandTimeoutMs } = config;
  if (urls.length === 1) return { type: 'redis', connection: urls[0], keyPrefix, commandTimeoutMs };
  const clusterNodes = urls.map((url) => {
    const { hostname, port } = new URL(url);
    return { host: hostname, port: Number(port || 6379) };
  });
  return { type: 'redis', connection: { clusterNodes }, keyPrefix, commandTimeoutMs };
}

@Module({})
export class AppModule {
  static forRoot(config: DemoConfig, tuning: { verifiedTokenCacheSize?: number } = {}): DynamicModule {
    const client = { limit: config.throttleLimit, ttlMs: config.throttleTtlMs };
    const login = { limit: config.loginLimit, ttlMs: config.loginTtlMs };
    return {
      module: AppModule,
      imports: [
        JwtDefenseModule.forRoot({
          token: {
            issuer: config.issuer,
            audience: config.audience,
            keys: loadDemoKeys(config),
            accessTokenTtlSec: config.accessTokenTtlSec,
            verifiedTokenCacheSize: tuning.verifiedTokenCacheSize,
          },
          store: storeOptions(config),
          // TRUST_PROXY peers, and the one header believed from them (TRUST_PROXY_HEADER).
          proxy: { trusted: config.trustProxy, header: config.trustProxyHeader },
          throttle: {
            // THROTTLE_LIMIT per client (IP, and user once authenticated) across every route.
            ip: client,
            user: client,
            // LOGIN_LIMIT on POST /auth/login, per IP and per username (credential stuffing spreads over IPs).
            profiles: { login: { ip: login, body: { field: 'username', ...login } } },
          },
          // Layer 3: the country from COUNTRY_HEADER (believed from TRUST_PROXY peers only), the device from
          // X-Device-Id or the user agent; step-up at RISK_STEP_UP_AT, deny at RISK_DENY_AT.
          risk: { mode: config.riskMode, stepUpAt: config.riskStepUpAt, denyAt: config.riskDenyAt, countryHeader: config.countryHeader },
          // Tokens of an external OpenID provider (resource-server mode), with their own profile.
          issuers: config.externalIssuer
            ? [
                {
                  issuer: config.externalIssuer,
                  audience: config.externalAudience!,
                  jwksUri: config.externalJwksUrl,
                  roles: config.externalRolesClaim,
                  maxTokenTtlSec: config.externalMaxTokenTtlSec,
                  ca: config.externalCaFile ? readFileSync(config.externalCaFile, 'utf8') : undefined,
                },
              ]
            : [],
          // DPoP (RFC 9449): a login with a proof gets tokens bound to its key.
          dpop: { mode: config.dpop, publicUrl: config.publicUrl },
          // Layer 4: per user × route baselines.
          anomaly: {
            mode: config.anomalyMode,
            intervalSec: config.anomalyIntervalSec,
            warmupIntervals: config.anomalyWarmupIntervals,
            factor: config.anomalyFactor,
            minRequests: config.anomalyMinRequests,
            containment: config.anomalyContainment,
          },
        }),
      ],
      controllers: [AuthController, MeController, HealthController, JwksController, AdminController],
      providers: [UsersService],
    };
  }
}

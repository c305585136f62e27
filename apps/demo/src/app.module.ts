import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Logger, Module, type DynamicModule } from '@nestjs/common';
import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { GraphQLModule } from '@nestjs/graphql';
import { MercuriusDriver, type MercuriusDriverConfig } from '@nestjs/mercurius';
import { Registry } from 'prom-client';
import { JwtDefenseModule, JwtDefenseOpsModule, type JwtDefenseModuleOptions } from '@jwt-defense/core';
import { PrometheusDefenseMetrics } from '@jwt-defense/core/prometheus';
import { HealthController, MeController } from './api/api.controllers.js';
import { MeResolver } from './api/me.resolver.js';
import { AuthController } from './auth/auth.controller.js';
import { UsersService } from './auth/users.service.js';
import type { DemoConfig } from './demo.config.js';
import { loadDemoKeys } from './demo.keys.js';
import { SIEM_OPTIONS, SiemForwarder, type SiemOptions } from './siem-forwarder.js';

/**
 * The KEK of rotated signing keys: JWT_KEY_ENCRYPTION_KEY, the same on every instance. Without it on Redis, a
 * random one (with a warning): a rotation still works on this instance, but no other instance can open its key.
 */
function keyEncryptionKey(config: DemoConfig): string | undefined {
  if (config.keyEncryptionKey !== undefined || !config.redisUrl) return config.keyEncryptionKey;
  new Logger('DemoKeys').warn('JWT_KEY_ENCRYPTION_KEY is not set: a rotated signing key can only be opened by this instance.');
  return randomBytes(32).toString('base64url');
}

/**
 * `POST /graphql`: Apollo on Express, Mercurius on Fastify; the schema is built from the resolvers in memory. No
 * sandbox page (it needs inline scripts the security headers forbid), no stack traces in errors.
 */
function graphqlModule(config: DemoConfig): DynamicModule {
  if (config.adapter === 'fastify') {
    return GraphQLModule.forRoot<MercuriusDriverConfig>({ driver: MercuriusDriver, autoSchemaFile: true, graphiql: false });
  }
  return GraphQLModule.forRoot<ApolloDriverConfig>({ driver: ApolloDriver, autoSchemaFile: true, playground: false, includeStacktraceInErrorResponses: false });
}

/** REDIS_URL: one URL (standalone), or a comma-separated list of Cluster nodes; absent: memory store. */
function storeOptions(config: DemoConfig): JwtDefenseModuleOptions['store'] {
  if (!config.redisUrl) return { type: 'memory' };
  const urls = config.redisUrl.split(',').map((url) => url.trim()).filter(Boolean);
  const { redisKeyPrefix: keyPrefix, redisCommandTimeoutMs: commandTimeoutMs, redisReplicaAcks: replicaAcks } = config;
  if (urls.length === 1) return { type: 'redis', connection: urls[0], keyPrefix, commandTimeoutMs, replicaAcks };
  const clusterNodes = urls.map((url) => {
    const { hostname, port } = new URL(url);
    return { host: hostname, port: Number(port || 6379) };
  });
  return { type: 'redis', connection: { clusterNodes }, keyPrefix, commandTimeoutMs, replicaAcks };
}

@Module({})
export class AppModule {
  static forRoot(config: DemoConfig, tuning: { verifiedTokenCacheSize?: number } = {}): DynamicModule {
    const client = { limit: config.throttleLimit, ttlMs: config.throttleTtlMs };
    const login = { limit: config.loginLimit, ttlMs: config.loginTtlMs };
    // The app's own Prometheus registry; jwt-defense reports into it through the pipeline's metrics sink.
    const registry = new Registry();
    const siem: SiemOptions = { url: config.siemUrl, token: config.siemToken };
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
          // SESSION_MAX_PER_USER live refresh sessions per user: a login beyond it revokes the user's oldest.
          session: { maxSessionsPerUser: config.sessionMaxPerUser },
          store: storeOptions(config),
          // TRUST_PROXY peers, and the one header believed from them (TRUST_PROXY_HEADER).
          proxy: { trusted: config.trustProxy, header: config.trustProxyHeader },
          throttle: {
            // THROTTLE_LIMIT per client (IP, and user once authenticated) across every route.
            ip: client,
            user: client,
            // THROTTLE_ALLOW clients skip those two (never authentication, never the login's per-username limit).
            allow: config.throttleAllow,
            // LOGIN_LIMIT on POST /auth/login, per IP and per username (credential stuffing spreads over IPs).
            profiles: { login: { ip: login, body: { field: 'username', ...login } } },
            // STORE_INSURANCE: while Redis is down, each instance counts the limits with its share (of STORE_INSURANCE_INSTANCES).
            insurance: config.storeInsurance,
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
          // Incident toolkit: admins are served during a deny-non-admin lockdown; rotated keys sealed with the KEK.
          incident: { adminRoles: ['admin'], keyEncryptionKey: keyEncryptionKey(config) },
          metrics: new PrometheusDefenseMetrics({ registry }),
        }),
        // The incident API, security events, probes, /metrics (an admin token or METRICS_TOKEN; public with
        // METRICS_PUBLIC=true), the JWKS and the dashboard, whose admin signs in and out on the demo's auth routes.
        JwtDefenseOpsModule.forRoot({
          metrics: { registry, token: config.metricsToken, public: config.metricsPublic },
          dashboard: { loginPath: '/auth/login', logoutPath: '/auth/logout' },
        }),
        graphqlModule(config),
      ],
      controllers: [AuthController, MeController, HealthController],
      providers: [UsersService, MeResolver, { provide: SIEM_OPTIONS, useValue: siem }, SiemForwarder],
    };
  }
}

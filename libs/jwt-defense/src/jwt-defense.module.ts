import { Inject, Module, RequestMethod, type MiddlewareConsumer, type NestModule, type Provider } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { BackgroundWrites } from './common/background-writes.js';
import { DefenseClock } from './common/defense-clock.js';
import { EpochClock } from './common/epoch-clock.js';
import { ContextRiskService } from './risk/context-risk.service.js';
import { ContextRiskStage } from './risk/context-risk.stage.js';
import { RiskOptions } from './risk/risk.options.js';
import { AnomalyMonitorService } from './monitoring/anomaly-monitor.service.js';
import { AnomalyOptions } from './monitoring/anomaly.options.js';
import { AnomalyStage } from './monitoring/anomaly.stage.js';
import { IncidentOptions } from './incident/incident.options.js';
import { IncidentService } from './incident/incident.service.js';
import { LockdownStage } from './incident/lockdown.stage.js';
import { DefenseHealthIndicator } from './health/defense-health.indicator.js';
import { DefenseScheduler } from './common/defense-scheduler.js';
import { ClientIpResolver } from './edge/client-ip.js';
import { ProxyOptions } from './edge/proxy.options.js';
import { SecurityEventService } from './events/security-event.service.js';
import { DefenseResponseHeaders } from './headers/response-headers.js';
import { SecurityHeadersMiddleware } from './headers/security-headers.hooks.js';
import { SecurityHeadersOptions } from './headers/security-headers.options.js';
import { JWT_DEFENSE_MODULE_OPTIONS, JwtDefenseConfigurableModule, refuseExtrasInOptions, type JwtDefenseModuleExtras } from './jwt-defense.module-definition.js';
import { JwtDefenseOptions, resolveJwtDefenseOptions, type JwtDefenseModuleOptions } from './jwt-defense.options.js';
import { DEFENSE_METRICS, INCIDENT_FACADE, JWT_DEFENSE_EXTRAS, JWT_DEFENSE_OPTIONS, KNOWN_ISSUERS, PRINCIPAL_PROPERTY, REALM } from './jwt-defense.tokens.js';
import { checkRegistryProviders } from './pipeline/check-stages.js';
import { DefenseAuthenticator } from './pipeline/defense-authenticator.js';
import { JwtDefenseGuard } from './pipeline/jwt-defense.guard.js';
import { NOOP_METRICS_SINK } from './pipeline/metrics-sink.js';
import { RequestPipeline } from './pipeline/request-pipeline.js';
import { StoreFailures } from './pipeline/store-failure.js';
import { PolicyResolver } from './policy/policy.resolver.js';
import { RevocationCleanupJob } from './revocation/revocation-cleanup.job.js';
import { RevocationOptions } from './revocation/revocation.options.js';
import { RevocationPolicy, revocationLimitsOf } from './revocation/revocation.policy.js';
import { RevocationService } from './revocation/revocation.service.js';
import { RevocationStage } from './revocation/revocation.stage.js';
import { RefreshTokenService } from './session/refresh-token.service.js';
import { SessionOptions } from './session/session.options.js';
import { DefenseStoreLifecycle, defenseStoreProviders } from './store/defense-store.provider.js';
import {
  DefenseStore,
  EventStore,
  GlobalStateStore,
  KeyRingStore,
  RateLimitStore,
  RequestCheckStore,
  RevocationStore,
  SessionStore,
  ContextStore,
} from './store/defense-store.ports.js';
import { ThrottleOptions } from './throttling/throttle.options.js';
import { ThrottleStage } from './throttling/throttle.stage.js';
import type { KnownIssuers } from './token/token-ids.js';
import { TokenOptions } from './token/token.options.js';
import { IssueClock } from './token/issue-clock.js';
import { TokenService } from './token/token.service.js';
import { AccessTokenVerifier, EXTERNAL_ISSUERS } from './issuers/access-token.verifier.js';
import { DpopOptions } from './dpop/dpop.options.js';
import { TransportsOptions } from './transports/transports.options.js';
import { DefenseWsConnections } from './transports/ws-connections.service.js';
import { GraphqlEndpoint } from './transports/graphql-endpoint.js';
import { DpopService } from './dpop/dpop.service.js';
import { DpopStage } from './dpop/dpop.stage.js';

/** Each layer injects its own options class, and only it (the throttler never sees key material). */
const layerOptions: Provider[] = [
  { provide: TokenOptions, useFactory: (all: JwtDefenseOptions) => all.token, inject: [JWT_DEFENSE_OPTIONS] },
  { provide: EXTERNAL_ISSUERS, useFactory: (all: JwtDefenseOptions) => all.issuers, inject: [JWT_DEFENSE_OPTIONS] },
  { provide: TransportsOptions, useFactory: (all: JwtDefenseOptions) => all.transports, inject: [JWT_DEFENSE_OPTIONS] },
  { provide: DpopOptions, useFactory: (all: JwtDefenseOptions) => all.dpop, inject: [JWT_DEFENSE_OPTIONS] },
  { provide: ProxyOptions, useFactory: (all: JwtDefenseOptions) => all.proxy, inject: [JWT_DEFENSE_OPTIONS] },
  { provide: ThrottleOptions, useFactory: (all: JwtDefenseOptions) => all.throttle, inject: [JWT_DEFENSE_OPTIONS] },
  { provide: RevocationOptions, useFactory: (all: JwtDefenseOptions) => all.revocation, inject: [JWT_DEFENSE_OPTIONS] },
  { provide: SessionOptions, useFactory: (all: JwtDefenseOptions) => all.session, inject: [JWT_DEFENSE_OPTIONS] },
  { provide: RiskOptions, useFactory: (all: JwtDefenseOptions) => all.risk, inject: [JWT_DEFENSE_OPTIONS] },
  { provide: AnomalyOptions, useFactory: (all: JwtDefenseOptions) => all.anomaly, inject: [JWT_DEFENSE_OPTIONS] },
  { provide: IncidentOptions, useFactory: (all: JwtDefenseOptions) => all.incident, inject: [JWT_DEFENSE_OPTIONS] },
  { provide: SecurityHeadersOptions, useFactory: (all: JwtDefenseOptions) => all.securityHeaders, inject: [JWT_DEFENSE_OPTIONS] },
  { provide: REALM, useFactory: (all: JwtDefenseOptions) => all.realm, inject: [JWT_DEFENSE_OPTIONS] },
  { provide: PRINCIPAL_PROPERTY, useFactory: (all: JwtDefenseOptions) => all.principalProperty, inject: [JWT_DEFENSE_OPTIONS] },
  { provide: DEFENSE_METRICS, useFactory: (all: JwtDefenseOptions) => all.metrics ?? NOOP_METRICS_SINK, inject: [JWT_DEFENSE_OPTIONS] },
  {
    provide: KNOWN_ISSUERS,
    // Without token.keys (a provider-only API) there are no local users: a bare subject names nobody.
    useFactory: (all: JwtDefenseOptions): KnownIssuers => {
      const local = all.token.keys.length > 0;
      return { own: local ? all.token.issuer : undefined, external: all.issuers.map((issuer) => issuer.issuer), local };
    },
    inject: [JWT_DEFENSE_OPTIONS],
  },
  // The revocation rules, from every option they depend on (lifetimes of every issuer, sessions, grace).
  { provide: RevocationPolicy, useFactory: (all: JwtDefenseOptions) => new RevocationPolicy(revocationLimitsOf(all)), inject: [JWT_DEFENSE_OPTIONS] },
];

/**
 * `JwtDefenseModule.forRoot(options)` / `forRootAsync({ useFactory, inject, imports })`, with the extras
 * `isGlobal`, `globalGuard` and `exceptionFilter`. Options are resolved (defaults, validation) once, in one
 * provider, so a bad configuration stops the app at boot with a message naming the option. The library does
 * not import `ScheduleModule.forRoot()`: see `DefenseScheduler`.
 * @hideconstructor
 */
@Module({
  imports: [DiscoveryModule],
  providers: [
    {
      provide: JWT_DEFENSE_OPTIONS,
      useFactory: (raw: JwtDefenseModuleOptions) => {
        refuseExtrasInOptions(raw);
        return resolveJwtDefenseOptions(raw);
      },
      inject: [JWT_DEFENSE_MODULE_OPTIONS],
    },
    ...layerOptions,
    DefenseClock,
    DefenseScheduler,
    ...defenseStoreProviders,
    EpochClock,
    // TokenService.issue() dates tokens by the store's clock; token/ itself imports no store.
    { provide: IssueClock, useExisting: EpochClock },
    DefenseStoreLifecycle,
    SecurityEventService,
    TokenService,
    AccessTokenVerifier,
    RevocationService,
    RefreshTokenService,
    RevocationCleanupJob,
    PolicyResolver,
    { provide: ClientIpResolver, useFactory: (proxy: ProxyOptions) => new ClientIpResolver(proxy), inject: [ProxyOptions] },
    StoreFailures,
    BackgroundWrites,
    ThrottleStage,
    RevocationStage,
    ContextRiskService,
    ContextRiskStage,
    AnomalyMonitorService,
    AnomalyStage,
    DpopService,
    DpopStage,
    DefenseWsConnections,
    GraphqlEndpoint,
    IncidentService,
    { provide: INCIDENT_FACADE, useExisting: IncidentService },
    LockdownStage,
    DefenseHealthIndicator,
    DefenseResponseHeaders,
    ...checkRegistryProviders,
    RequestPipeline,
    DefenseAuthenticator,
    JwtDefenseGuard,
  ],
  exports: [
    JWT_DEFENSE_OPTIONS,
    DefenseClock,
    DefenseStore,
    RequestCheckStore,
    RateLimitStore,
    RevocationStore,
    GlobalStateStore,
    KeyRingStore,
    SessionStore,
    ContextStore,
    EventStore,
    SecurityEventService,
    IncidentService,
    DefenseHealthIndicator,
    ContextRiskService,
    AnomalyMonitorService,
    BackgroundWrites,
    DpopService,
    DefenseWsConnections,
    TransportsOptions,
    TokenService,
    AccessTokenVerifier,
    RevocationService,
    RefreshTokenService,
    RevocationCleanupJob,
    PolicyResolver,
    ClientIpResolver,
    DefenseResponseHeaders,
    RequestPipeline,
    DefenseAuthenticator,
    JwtDefenseGuard,
  ],
})
export class JwtDefenseModule extends JwtDefenseConfigurableModule implements NestModule {
  constructor(
    @Inject(JWT_DEFENSE_EXTRAS) private readonly extras: Required<JwtDefenseModuleExtras>,
    private readonly graphqlEndpoint: GraphqlEndpoint,
  ) {
    super();
  }

  configure(consumer: MiddlewareConsumer): void {
    // Every HTTP request to the GraphQL endpoint (Express: here, between the body parsers and the driver; Fastify: a
    // route hook, see GraphqlEndpoint).
    this.graphqlEndpoint.installOnExpress();
    // With the global guard and the exception filter, every answer passes one of them: no middleware pass.
    if (!(this.extras.globalGuard && this.extras.exceptionFilter)) {
      consumer.apply(SecurityHeadersMiddleware).forRoutes({ path: '{*path}', method: RequestMethod.ALL });
    }
  }
}

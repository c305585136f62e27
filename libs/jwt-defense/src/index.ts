// The public API of jwt-defense: what users import, configure and inject. Everything else is internal, and may change
// in any release. Other entries: `@jwt-defense/core/redis` (ioredis), `/fastify` (fastify's types), `/prometheus`
// (prom-client), `/store` (for authors of a custom store). test/api-surface.e2e-spec.ts fails on any change to this list.

// The module, its options and registration switches.
export { JwtDefenseModule } from './jwt-defense.module.js';
export type { JwtDefenseModuleExtras } from './jwt-defense.module-definition.js';
export type { JwtDefenseModuleOptions } from './jwt-defense.options.js';
export type {
  TokenOptions,
  IssuerOptions,
  TransportsOptions,
  DpopOptions,
  StoreOptions,
  ProxyOptions,
  ThrottleOptions,
  RevocationOptions,
  SessionOptions,
  RiskOptions,
  AnomalyOptions,
  IncidentOptions,
} from './jwt-defense.option-types.js';
export type { JwtKeyOptions } from './token/token.options.js';
export type { JwtAlgorithm, KeyMaterial } from './token/key-ring.js';
export type { RolesMapping } from './token/access-token-claims.js';
export type { TransportMode } from './transports/transports.options.js';
export { PROXY_HEADERS } from './edge/proxy.options.js';
export type { ProxyHeader } from './edge/proxy.options.js';
export type { ReplicaAcks, RedisStoreConnection } from './store/store.options.js';
export type { FailMode } from './pipeline/fail-mode.js';
export type { LayerMode } from './risk/risk.options.js';
export type { AnomalyContainment } from './monitoring/anomaly.options.js';
export type { SecurityHeadersOverrides } from './headers/security-headers.options.js';
export type { RiskSignal, RiskInput, RequestRiskContext } from './risk/risk-signals.js';
export type { CountryResolver } from './risk/country-resolver.js';
export type { DefenseMetricsSink, DefenseDecision, DefenseLayer } from './pipeline/metrics-sink.js';

// Decorators, the principal, the guard (extension points: its protected `getPolicy` and `authorize`) and the filter.
export { Public, DefensePolicy, RequireRoles } from './policy/defense-policy.decorator.js';
export type { DefensePolicyOptions } from './policy/defense-policy.decorator.js';
export { CurrentPrincipal } from './policy/current-principal.decorator.js';
export { SecurityHeaders } from './headers/security-headers.decorator.js';
export type { AccessTokenPrincipal } from './token/access-token-claims.js';
export { JwtDefenseGuard } from './pipeline/jwt-defense.guard.js';
export type { RoutePolicy } from './policy/policy.resolver.js';
export { JwtDefenseExceptionFilter } from './errors/defense-exception.filter.js';

// Errors: one namespace of classes to catch (`instanceof JwtDefenseErrors.RateLimitedException`), and the closed set
// of codes to switch on.
export * as JwtDefenseErrors from './errors/jwt-defense-errors.js';
export type { DefenseErrorCode } from './errors/defense-error-code.js';

// The services users inject, with the types of their arguments and answers.
export { TokenService } from './token/token.service.js';
export type { IssuedAccessToken, IssueOptions, JsonWebKeySet } from './token/token.service.js';
export { RefreshTokenService } from './session/refresh-token.service.js';
export type { IssuePairOptions, RefreshClaimsHook, RefreshOptions, TokenPair } from './session/refresh-token.service.js';
export { RevocationService } from './revocation/revocation.service.js';
export type { RevokeTokenOptions } from './revocation/revocation.service.js';
export { DefenseAuthenticator } from './pipeline/defense-authenticator.js';
export type { AuthenticateOptions } from './pipeline/defense-authenticator.js';
export { DpopService } from './dpop/dpop.service.js';
export type { DpopProof } from './dpop/dpop.service.js';
export { ContextRiskService } from './risk/context-risk.service.js';
export { AnomalyMonitorService } from './monitoring/anomaly-monitor.service.js';
export { IncidentService } from './incident/incident.service.js';
export type { IncidentActor, IncidentStatus, KeyRotation, KeyStatus, LockdownVerdict } from './incident/incident.service.js';
export { LOCKDOWN_MODES } from './store/defense-store.ports.js';
export type { LockdownMode } from './store/defense-store.ports.js';
export { SecurityEventService } from './events/security-event.service.js';
export type { SecurityEventInput } from './events/security-event.service.js';
export { SECURITY_EVENT_TYPES, toNdjsonLine } from './events/security-event.js';
export type { SecurityEvent, SecurityEventQuery, SecurityEventType } from './events/security-event.js';
export { DefenseHealthIndicator } from './health/defense-health.indicator.js';
export type { DefenseHealthResult } from './health/defense-health.indicator.js';
export { DefenseWsConnections } from './transports/ws-connections.service.js';
// The whole store (`store.kind`, an admin task): its ports and what a custom store needs are in `/store`.
export { InjectDefenseStore } from './store/defense-store.provider.js';
export type { DefenseStore } from './store/defense-store.ports.js';

// For an app that keeps its own ThrottlerModule (RedisThrottlerStorage: `@jwt-defense/core/redis`).
export { MemoryThrottlerStorage } from './throttling/memory-throttler.storage.js';
export type { MemoryThrottlerStorageOptions } from './throttling/memory-throttler.storage.js';
export type { ThrottlerAlgorithms } from './throttling/throttler-storage.options.js';
export type { RateLimitAlgorithm } from './throttling/rate-limit.js';

// The JSON depth limit of the app's body parser (docs/SECURITY.md).
export { limitJsonDepth } from './edge/json-depth.js';

// The operations endpoints (incident API, security events, probes, /metrics, JWKS, dashboard): docs/OPERATIONS.md.
export { JwtDefenseOpsModule } from './ops/ops.module.js';
export type { JwtDefenseOpsModuleOptions, OpsMetricsRegistry } from './ops/ops.options.js';
export { JsonOnlyGuard } from './ops/json-only.guard.js';

// The public API of jwt-defense: everything a user imports comes from here, except what needs an optional peer:
// `@jwt-defense/core/redis` (ioredis) and `@jwt-defense/core/fastify` (fastify's types).
export { JwtDefenseModule } from './jwt-defense.module.js';
export { JWT_DEFENSE_OPTIONS_TYPE, JWT_DEFENSE_ASYNC_OPTIONS_TYPE } from './jwt-defense.module-definition.js';
export type { JwtDefenseModuleExtras } from './jwt-defense.module-definition.js';
export { JWT_DEFENSE_OPTIONS } from './jwt-defense.tokens.js';
export { JwtDefenseOptions, resolveJwtDefenseOptions } from './jwt-defense.options.js';
export type { FailMode, JwtDefenseModuleOptions } from './jwt-defense.options.js';
export type { OptionsInput } from './common/options.js';
export {
  ACCESS_TOKEN_TYPE,
  DEFAULT_ACCESS_TOKEN_TTL_SEC,
  DEFAULT_CLOCK_TOLERANCE_SEC,
  DEFAULT_MAX_TOKEN_BYTES,
  MAX_ACCESS_TOKEN_TTL_SEC,
} from './jwt-defense.constants.js';

// Options of each layer (classes: defaults and validation live in them).
export { TokenOptions, KeyOptions } from './token/token.options.js';
export type { JwtKeyOptions } from './token/token.options.js';
export { ProxyOptions, PROXY_HEADERS } from './edge/proxy.options.js';
export type { ProxyHeader } from './edge/proxy.options.js';
export { ThrottleOptions, ThrottlePolicyOptions, RateLimitOptions, BodyRateLimitOptions } from './throttling/throttle.options.js';
export { RevocationOptions } from './revocation/revocation.options.js';
export { SessionOptions } from './session/session.options.js';
export { SecurityHeadersOptions } from './headers/security-headers.options.js';
export type { SecurityHeadersOverrides } from './headers/security-headers.options.js';
export { MemoryStoreOptions, RedisStoreOptions, CustomStoreOptions } from './store/store.options.js';
export type { ReplicaAcks } from './store/store.options.js';
export type { StoreOptions } from './store/store.options.js';

export { DefenseClock } from './common/defense-clock.js';
export { DefenseScheduler } from './common/defense-scheduler.js';

// Layer 1: tokens.
export { TokenService } from './token/token.service.js';
export type { IssuedAccessToken, IssueOptions, JsonWebKeySet } from './token/token.service.js';
export type { AccessTokenPrincipal } from './token/access-token-claims.js';
export { JWT_ALGORITHMS } from './token/key-ring.js';
export type { JwtAlgorithm, KeyMaterial, PublicJwk } from './token/key-ring.js';

// External issuers (resource-server mode).
export { AccessTokenVerifier } from './issuers/access-token.verifier.js';
export { IssuerOptions, EXTERNAL_ALGORITHMS, EXTERNAL_TOKEN_TYPES } from './issuers/issuer.options.js';
export type { RolesMapping } from './token/access-token-claims.js';

// Transports: GraphQL, WebSocket gateways, microservices.
export { GraphqlTransportOptions, TransportsOptions } from './transports/transports.options.js';
export type { TransportMode } from './transports/transports.options.js';
export { DefenseWsConnections } from './transports/ws-connections.service.js';
export { principalOf } from './policy/current-principal.decorator.js';

// DPoP (RFC 9449).
export { DpopService } from './dpop/dpop.service.js';
export type { DpopProof } from './dpop/dpop.service.js';
export { DpopOptions, DPOP_ALGORITHMS } from './dpop/dpop.options.js';

// Refresh sessions.
export { RefreshTokenService } from './session/refresh-token.service.js';
export type { IssuePairOptions, RefreshClaimsHook, RefreshOptions, TokenPair } from './session/refresh-token.service.js';

// Layer 3: context risk.
export { ContextRiskService } from './risk/context-risk.service.js';
export type { RiskDecision } from './risk/context-risk.service.js';
export { RiskOptions, RiskWeightsOptions, RouteRiskOptions } from './risk/risk.options.js';
export type { LayerMode } from './risk/risk.options.js';
export { NewCountrySignal, UnknownDeviceSignal, UnusualHourSignal, ImpossibleTravelSignal, scoreRisk } from './risk/risk-signals.js';
export type { RequestRiskContext, RiskFactor, RiskInput, RiskSignal } from './risk/risk-signals.js';
export { HeaderCountryResolver, MaxMindCountryResolver } from './risk/country-resolver.js';
export type { CountryResolver } from './risk/country-resolver.js';
export { deviceFingerprint, userAgentFamily } from './risk/device-fingerprint.js';
export { hourOfWeek } from './risk/risk-profile.js';

// Layer 4: anomaly monitoring.
export { AnomalyMonitorService } from './monitoring/anomaly-monitor.service.js';
export { AnomalyOptions, RouteAnomalyOptions } from './monitoring/anomaly.options.js';
export type { AnomalyContainment } from './monitoring/anomaly.options.js';
export { BackgroundWrites } from './common/background-writes.js';

// Layer 5: revocation.
export { RevocationService } from './revocation/revocation.service.js';
export type { RevokeTokenOptions } from './revocation/revocation.service.js';
export { RevocationCleanupJob, CLEANUP_JOB_NAME } from './revocation/revocation-cleanup.job.js';

// Incident response, health and metrics.
export { IncidentService } from './incident/incident.service.js';
export type { IncidentActor, IncidentStatus, KeyRotation, KeyStatus, LockdownVerdict } from './incident/incident.service.js';
export { IncidentOptions } from './incident/incident.options.js';
export { LockdownStage } from './incident/lockdown.stage.js';
export { DefenseHealthIndicator } from './health/defense-health.indicator.js';
export type { DefenseHealthResult } from './health/defense-health.indicator.js';

// Events.
export { SecurityEventService } from './events/security-event.service.js';
export type { SecurityEventInput } from './events/security-event.service.js';
export { SECURITY_EVENT_TYPES, createSecurityEvent, toNdjsonLine } from './events/security-event.js';
export type { SecurityEvent, SecurityEventQuery, SecurityEventType } from './events/security-event.js';

// The pipeline, its guard and its policies; the one way to authenticate a request outside a guarded route.
export { JwtDefenseGuard } from './pipeline/jwt-defense.guard.js';
export { DefenseAuthenticator } from './pipeline/defense-authenticator.js';
export type { AuthenticateOptions } from './pipeline/defense-authenticator.js';
export { RequestPipeline, authorizeByPolicy } from './pipeline/request-pipeline.js';
export type { Authorizer } from './pipeline/request-pipeline.js';
export type { CheckStage } from './pipeline/check-stage.js';
export type { PipelineContext, PrincipalIdentity } from './pipeline/pipeline-context.js';
export { NOOP_METRICS_SINK } from './pipeline/metrics-sink.js';
export type { DefenseDecision, DefenseLayer, DefenseMetricsSink } from './pipeline/metrics-sink.js';
export { DefensePolicy, Public, RequireRoles } from './policy/defense-policy.decorator.js';
export type { DefensePolicyOptions } from './policy/defense-policy.decorator.js';
export { PolicyResolver } from './policy/policy.resolver.js';
export type { RoutePolicy, RouteRateLimit } from './policy/policy.resolver.js';
export { CurrentPrincipal, getPrincipal } from './policy/current-principal.decorator.js';

// Layer 6: headers.
export { SecurityHeaders } from './headers/security-headers.decorator.js';
export { DefenseResponseHeaders } from './headers/response-headers.js';

// Errors.
export { DEFENSE_ERROR_CODES, DEFENSE_ERROR_MESSAGES } from './errors/defense-error-code.js';
export type { DefenseErrorCode, TokenErrorCode } from './errors/defense-error-code.js';
export {
  JwtDefenseException,
  DefenseStoreUnavailableException,
  RateLimitedException,
  InvalidRequestException,
  InvalidTokenException,
  InsufficientScopeException,
  MissingTokenException,
  SubjectRequiredException,
  StepUpRequiredException,
  RiskDeniedException,
  IssuerUnavailableException,
  DpopProofException,
  UseDpopNonceException,
  LockdownException,
  SigningKeyActiveException,
  KeyRingFullException,
  TransportNotConfiguredException,
  TokenVerificationError,
  defenseErrorBody,
} from './errors/defense.exceptions.js';
export type { BearerChallengeError, DefenseErrorBody } from './errors/defense.exceptions.js';
export { JwtDefenseExceptionFilter } from './errors/defense-exception.filter.js';
// Fastify's `frameworkErrors` handler: `@jwt-defense/core/fastify` (needs `fastify`'s types).

// Store: ports, implementations.
export {
  DefenseStore,
  RequestCheckStore,
  RateLimitStore,
  RevocationStore,
  GlobalStateStore,
  KeyRingStore,
  SessionStore,
  ContextStore,
  EventStore,
  LOCKDOWN_MODES,
} from './store/defense-store.ports.js';
export type {
  AnomalyCount,
  AnomalyResult,
  CleanupReport,
  DefenseCheckRequest,
  DefenseCheckResult,
  GlobalDefenseState,
  KeyRingLimits,
  KeyRotationOutcome,
  LockdownMode,
  LockdownState,
  StoredSigningKey,
  RateLimitHit,
  RefreshSessionRecord,
  RevocationRecord,
  RiskLearning,
  RiskProfile,
  RiskRead,
  RotateConditions,
  RotateOutcome,
  StoreMaintenance,
  UserRateLimitRequest,
} from './store/defense-store.ports.js';
export { DefenseStoreError, StoreCapacityError } from './store/defense-store.errors.js';
export { InjectDefenseStore } from './store/defense-store.provider.js';
export { MemoryDefenseStore } from './store/memory/memory-defense.store.js';
export type { MemoryDefenseStoreOptions } from './store/memory/memory-defense.store.js';
// RedisDefenseStore, RedisThrottlerStorage and the ioredis-typed RedisConnection: `@jwt-defense/core/redis`.
export type { RedisStoreConnection } from './store/store.options.js';

// Layer 2: rate limiting (and storages for an app's own ThrottlerModule).
export { ClientIpResolver } from './edge/client-ip.js';
export { limitJsonDepth, jsonTooDeep, DEFAULT_MAX_JSON_DEPTH } from './edge/json-depth.js';
export { MemoryThrottlerStorage } from './throttling/memory-throttler.storage.js';
export type { MemoryThrottlerStorageOptions } from './throttling/memory-throttler.storage.js';
export type { ThrottlerAlgorithms } from './throttling/throttler-storage.options.js';
export type { RateLimitAlgorithm, RateLimitResult } from './throttling/rate-limit.js';

// The public API of jwt-defense: everything a user imports comes from here.
export { JwtDefenseModule } from './jwt-defense.module.js';
export { JWT_DEFENSE_OPTIONS_TYPE, JWT_DEFENSE_ASYNC_OPTIONS_TYPE } from './jwt-defense.module-definition.js';
export type { JwtDefenseModuleExtras } from './jwt-defense.module-definition.js';
export { JWT_DEFENSE_OPTIONS } from './jwt-defense.tokens.js';
export { resolveJwtDefenseOptions } from './jwt-defense.options.js';
export type {
  FailMode,
  JwtDefenseModuleOptions,
  ResolvedJwtDefenseOptions,
  RevocationOptions,
  StoreOptions,
} from './jwt-defense.options.js';
export {
  ACCESS_TOKEN_TYPE,
  DEFAULT_ACCESS_TOKEN_TTL_SEC,
  DEFAULT_CLOCK_TOLERANCE_SEC,
  DEFAULT_MAX_TOKEN_BYTES,
  MAX_ACCESS_TOKEN_TTL_SEC,
} from './jwt-defense.constants.js';

export { DefenseClock } from './common/defense-clock.js';

export { TokenService } from './token/token.service.js';
export type { IssuedAccessToken, IssueOptions, JsonWebKeySet } from './token/token.service.js';
export type { AccessTokenPrincipal } from './token/access-token-claims.js';
export { RefreshTokenService } from './token/refresh-token.service.js';
export type { TokenPair } from './token/refresh-token.service.js';
export { RevocationService } from './revocation/revocation.service.js';
export type { RequestVerdict, RevocationVerdict, RevokeTokenOptions } from './revocation/revocation.service.js';
export { RevocationCleanupJob, CLEANUP_JOB_NAME } from './revocation/revocation-cleanup.job.js';
export { SecurityEventService } from './events/security-event.service.js';
export type { SecurityEventInput } from './events/security-event.service.js';
export { JWT_ALGORITHMS } from './token/key-ring.js';
export type { JwtAlgorithm, JwtKeyOptions, KeyMaterial, PublicJwk } from './token/key-ring.js';

export { JwtDefenseGuard, bearerChallenge } from './policy/jwt-defense.guard.js';
export { DefensePolicy, Public, RequireRoles } from './policy/defense-policy.decorator.js';
export { PolicyResolver } from './policy/policy.resolver.js';
export type { RoutePolicy } from './policy/policy.resolver.js';
export type { DefensePolicyOptions } from './policy/defense-policy.decorator.js';
export { CurrentPrincipal, getPrincipal } from './policy/current-principal.decorator.js';

export { SecurityHeaders } from './headers/security-headers.decorator.js';
export type { SecurityHeadersOptions } from './headers/security-headers.options.js';

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
  TokenVerificationError,
  defenseErrorBody,
} from './errors/defense.exceptions.js';
export type { BearerChallengeError, DefenseErrorBody } from './errors/defense.exceptions.js';
export { JwtDefenseExceptionFilter } from './errors/defense-exception.filter.js';
export { fastifyFrameworkErrors } from './errors/fastify-framework-errors.js';

export { DefenseStore } from './store/defense-store.interface.js';
export type {
  CleanupReport,
  DefenseCheckRequest,
  DefenseCheckResult,
  GlobalDefenseState,
  RefreshSessionRecord,
  RevocationRecord,
  RotateOutcome,
  UserRateLimitRequest,
} from './store/defense-store.interface.js';
export { DefenseStoreError } from './store/defense-store.errors.js';
export { InjectDefenseStore } from './store/defense-store.provider.js';
export { MemoryDefenseStore } from './store/memory-defense.store.js';
export type { MemoryDefenseStoreOptions } from './store/memory-defense.store.js';
export { RedisDefenseStore } from './store/redis-defense.store.js';
export type { RedisDefenseStoreOptions } from './store/redis-defense.store.js';
export type { RedisConnection } from './store/redis-connection.js';
export { SECURITY_EVENT_TYPES } from './events/security-event.js';
export type { SecurityEvent, SecurityEventQuery, SecurityEventType } from './events/security-event.js';

export { MemoryThrottlerStorage } from './throttling/memory-throttler.storage.js';
export type { MemoryThrottlerStorageOptions } from './throttling/memory-throttler.storage.js';
export { RedisThrottlerStorage } from './throttling/redis-throttler.storage.js';
export type { RedisThrottlerStorageOptions } from './throttling/redis-throttler.storage.js';
export type { ThrottlerAlgorithms } from './throttling/throttler-storage.options.js';
export type { RateLimit, RateLimitAlgorithm, RateLimitResult } from './throttling/rate-limit.js';
export type { BodyFieldRateLimit, ThrottleOptions, ThrottlePolicy } from './throttling/throttle-policy.js';
export { ClientIpResolver } from './throttling/client-ip.js';
export { DefenseThrottlerGuard, IP_THROTTLER, BODY_THROTTLER } from './throttling/defense-throttler.guard.js';

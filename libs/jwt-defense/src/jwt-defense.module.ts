import { Inject, Module, RequestMethod, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import { DefenseClock } from './common/defense-clock.js';
import { SecurityHeadersInterceptor } from './headers/security-headers.interceptor.js';
import { SecurityHeadersMiddleware } from './headers/security-headers.middleware.js';
import { JWT_DEFENSE_MODULE_OPTIONS, JwtDefenseConfigurableModule } from './jwt-defense.module-definition.js';
import { resolveJwtDefenseOptions, type JwtDefenseModuleOptions, type ResolvedJwtDefenseOptions } from './jwt-defense.options.js';
import { JWT_DEFENSE_HEADERS_MODE, JWT_DEFENSE_OPTIONS, type HeadersMode } from './jwt-defense.tokens.js';
import { JwtDefenseGuard } from './policy/jwt-defense.guard.js';
import { PolicyResolver } from './policy/policy.resolver.js';
import { ClientIpResolver } from './throttling/client-ip.js';
import { DefenseThrottlerGuard } from './throttling/defense-throttler.guard.js';
import { throttlingProviders } from './throttling/throttling.providers.js';
import { TokenService } from './token/token.service.js';
import { RefreshTokenService } from './token/refresh-token.service.js';
import { SecurityEventService } from './events/security-event.service.js';
import { RevocationService } from './revocation/revocation.service.js';
import { RevocationCleanupJob } from './revocation/revocation-cleanup.job.js';
import { DefenseStore } from './store/defense-store.interface.js';
import { DefenseStoreLifecycle, defenseStoreProvider } from './store/defense-store.provider.js';

/**
 * `JwtDefenseModule.forRoot(options)` / `forRootAsync({ useFactory, inject, imports })`, with the extras
 * `isGlobal`, `globalGuard` and `exceptionFilter`. Options are resolved (defaults, class-validator, key
 * import) once, in one provider, so a bad configuration stops the app at boot with a message naming the option.
 */
@Module({
  imports: [ScheduleModule.forRoot(), DiscoveryModule],
  providers: [
    {
      provide: JWT_DEFENSE_OPTIONS,
      useFactory: (raw: JwtDefenseModuleOptions) => resolveJwtDefenseOptions(raw),
      inject: [JWT_DEFENSE_MODULE_OPTIONS],
    },
    DefenseClock,
    defenseStoreProvider,
    DefenseStoreLifecycle,
    SecurityEventService,
    TokenService,
    RevocationService,
    RefreshTokenService,
    RevocationCleanupJob,
    PolicyResolver,
    ...throttlingProviders,
    DefenseThrottlerGuard,
    JwtDefenseGuard,
    SecurityHeadersInterceptor,
  ],
  exports: [
    JWT_DEFENSE_OPTIONS,
    DefenseClock,
    DefenseStore,
    SecurityEventService,
    TokenService,
    RevocationService,
    RefreshTokenService,
    RevocationCleanupJob,
    PolicyResolver,
    ClientIpResolver,
    DefenseThrottlerGuard,
    JwtDefenseGuard,
  ],
})
export class JwtDefenseModule extends JwtDefenseConfigurableModule implements NestModule {
  constructor(
    @Inject(JWT_DEFENSE_OPTIONS) private readonly options: ResolvedJwtDefenseOptions,
    @Inject(JWT_DEFENSE_HEADERS_MODE) private readonly headersMode: HeadersMode,
  ) {
    super();
  }

  configure(consumer: MiddlewareConsumer): void {
    if (this.options.securityHeaders && this.headersMode === 'middleware') {
      consumer.apply(SecurityHeadersMiddleware).forRoutes({ path: '{*path}', method: RequestMethod.ALL });
    }
  }
}

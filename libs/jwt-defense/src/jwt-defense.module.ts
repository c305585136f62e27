import { Inject, Module, RequestMethod, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR, HttpAdapterHost } from '@nestjs/core';
import { DefenseClock } from './common/defense-clock.js';
import { JwtDefenseExceptionFilter } from './errors/defense-exception.filter.js';
import { SecurityHeadersInterceptor } from './headers/security-headers.interceptor.js';
import { SecurityHeadersMiddleware } from './headers/security-headers.middleware.js';
import {
  JWT_DEFENSE_MODULE_OPTIONS,
  JWT_DEFENSE_OPTIONS,
  JwtDefenseConfigurableModule,
} from './jwt-defense.module-definition.js';
import { resolveJwtDefenseOptions, type JwtDefenseModuleOptions, type ResolvedJwtDefenseOptions } from './jwt-defense.options.js';
import { JwtDefenseGuard } from './policy/jwt-defense.guard.js';
import { TokenService } from './token/token.service.js';

/** Stands in for a global enhancer that options turned off. */
const PASS_THROUGH = {
  canActivate: () => true,
  intercept: (_context: unknown, next: { handle: () => unknown }) => next.handle(),
  catch: (error: unknown) => {
    throw error;
  },
};

/**
 * `JwtDefenseModule.forRoot(options)` / `forRootAsync({ useFactory, inject, imports })`, with an `isGlobal`
 * extra. Options are resolved (defaults, class-validator, key import) once, in one provider, so a bad
 * configuration stops the app at boot with a message that names the option.
 */
@Module({
  providers: [
    {
      provide: JWT_DEFENSE_OPTIONS,
      useFactory: (raw: JwtDefenseModuleOptions) => resolveJwtDefenseOptions(raw),
      inject: [JWT_DEFENSE_MODULE_OPTIONS],
    },
    DefenseClock,
    TokenService,
    JwtDefenseGuard,
    SecurityHeadersInterceptor,
    {
      provide: APP_GUARD,
      useFactory: (options: ResolvedJwtDefenseOptions, guard: JwtDefenseGuard) => (options.globalGuard ? guard : PASS_THROUGH),
      inject: [JWT_DEFENSE_OPTIONS, JwtDefenseGuard],
    },
    {
      provide: APP_INTERCEPTOR,
      useFactory: (options: ResolvedJwtDefenseOptions, interceptor: SecurityHeadersInterceptor) =>
        options.securityHeaders ? interceptor : PASS_THROUGH,
      inject: [JWT_DEFENSE_OPTIONS, SecurityHeadersInterceptor],
    },
    {
      provide: APP_FILTER,
      useFactory: (options: ResolvedJwtDefenseOptions, adapterHost: HttpAdapterHost) =>
        options.exceptionFilter ? new JwtDefenseExceptionFilter(adapterHost, options.headerSet) : PASS_THROUGH,
      inject: [JWT_DEFENSE_OPTIONS, HttpAdapterHost],
    },
  ],
  exports: [JWT_DEFENSE_OPTIONS, DefenseClock, TokenService, JwtDefenseGuard],
})
export class JwtDefenseModule extends JwtDefenseConfigurableModule implements NestModule {
  constructor(@Inject(JWT_DEFENSE_OPTIONS) private readonly options: ResolvedJwtDefenseOptions) {
    super();
  }

  configure(consumer: MiddlewareConsumer): void {
    if (this.options.securityHeaders) {
      consumer.apply(SecurityHeadersMiddleware).forRoutes({ path: '{*path}', method: RequestMethod.ALL });
    }
  }
}

import { ConfigurableModuleBuilder, type Provider } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { SecurityHeadersInterceptor } from './headers/security-headers.interceptor.js';
import { JwtDefenseExceptionFilter } from './errors/defense-exception.filter.js';
import type { JwtDefenseModuleOptions } from './jwt-defense.options.js';
import { JWT_DEFENSE_HEADERS_MODE, type HeadersMode } from './jwt-defense.tokens.js';
import { JwtDefenseGuard } from './policy/jwt-defense.guard.js';
import { DefenseThrottlerGuard } from './throttling/defense-throttler.guard.js';

/**
 * Registration switches, given next to the options of `forRoot()` or `forRootAsync()` (they decide which
 * providers exist, so they cannot come from an async factory). A disabled enhancer is not registered.
 */
export interface JwtDefenseModuleExtras {
  /** Make the module global (its services injectable everywhere). Default `false`. */
  isGlobal?: boolean;
  /**
   * Register `DefenseThrottlerGuard` (rate limits per IP and per body field, before authentication) as a
   * global guard, ahead of `JwtDefenseGuard`. Default `true`.
   */
  throttlerGuard?: boolean;
  /** Register `JwtDefenseGuard` as a global guard. Default `true`; when `false`, use `@UseGuards(JwtDefenseGuard)`. */
  globalGuard?: boolean;
  /**
   * Register `JwtDefenseExceptionFilter` globally: every error gets the `{statusCode, error, message, code}`
   * body, never a stack or an echo of input. Default `true`.
   */
  exceptionFilter?: boolean;
}

const DEFAULT_EXTRAS: Required<JwtDefenseModuleExtras> = { isGlobal: false, throttlerGuard: true, globalGuard: true, exceptionFilter: true };

export const {
  ConfigurableModuleClass: JwtDefenseConfigurableModule,
  MODULE_OPTIONS_TOKEN: JWT_DEFENSE_MODULE_OPTIONS,
  OPTIONS_TYPE: JWT_DEFENSE_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: JWT_DEFENSE_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<JwtDefenseModuleOptions>()
  .setClassMethodName('forRoot')
  .setExtras<JwtDefenseModuleExtras>(DEFAULT_EXTRAS, (definition, extras) => {
    const { isGlobal, throttlerGuard, globalGuard, exceptionFilter } = { ...DEFAULT_EXTRAS, ...extras };
    const enhancers: Provider[] = [];
    // Order matters: global guards of one module run in registration order, so cheap IP throttling comes
    // before any token work.
    if (throttlerGuard) enhancers.push({ provide: APP_GUARD, useExisting: DefenseThrottlerGuard });
    if (globalGuard) enhancers.push({ provide: APP_GUARD, useExisting: JwtDefenseGuard });
    // Without the global guard, an interceptor applies @SecurityHeaders() overrides instead.
    else enhancers.push({ provide: APP_INTERCEPTOR, useExisting: SecurityHeadersInterceptor });
    if (exceptionFilter) enhancers.push({ provide: APP_FILTER, useClass: JwtDefenseExceptionFilter });
    // With both the global guard and the filter, every response passes one of them: they set the headers,
    // and the middleware pass (a router match per request) is skipped.
    const headersMode: HeadersMode = globalGuard && exceptionFilter ? 'guard' : 'middleware';
    enhancers.push({ provide: JWT_DEFENSE_HEADERS_MODE, useValue: headersMode });
    return { ...definition, global: isGlobal, providers: [...(definition.providers ?? []), ...enhancers] };
  })
  .build();

import { ConfigurableModuleBuilder, type Provider } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_INTERCEPTOR } from '@nestjs/core';
import { JwtDefenseExceptionFilter } from './errors/defense-exception.filter.js';
import { FastifyRouteErrors } from './errors/fastify-route-errors.js';
import { SecurityHeadersInterceptor } from './headers/security-headers.hooks.js';
import type { JwtDefenseModuleOptions } from './jwt-defense.options.js';
import { JWT_DEFENSE_EXTRAS } from './jwt-defense.tokens.js';
import { JwtDefenseGuard } from './pipeline/jwt-defense.guard.js';

/**
 * Registration switches, given next to the options of `forRoot()` or `forRootAsync()` (they decide which
 * providers exist, so they cannot come from an async factory). A disabled enhancer is not registered.
 */
export interface JwtDefenseModuleExtras {
  /** Make the module global (its services injectable everywhere). Default `false`. */
  isGlobal?: boolean;
  /**
   * Register `JwtDefenseGuard` (the whole request pipeline: rate limits, token, revocation, authorization,
   * headers) as a global guard. Default `true`; when `false`, use `@UseGuards(JwtDefenseGuard)` where wanted.
   */
  globalGuard?: boolean;
  /**
   * Register `JwtDefenseExceptionFilter` globally: every error gets the `{statusCode, error, message, code}`
   * body and the security headers, never a stack or an echo of input; store failures are 503. Default `true`.
   */
  exceptionFilter?: boolean;
}

const DEFAULT_EXTRAS: Required<JwtDefenseModuleExtras> = { isGlobal: false, globalGuard: true, exceptionFilter: true };

/**
 * Refuses a registration switch inside the options themselves: `forRoot()` takes them out before the options reach
 * us, so one found here came from a `forRootAsync()` factory's result, too late to decide which providers exist.
 */
export function refuseExtrasInOptions(raw: unknown): void {
  if (raw === null || typeof raw !== 'object') return;
  const name = Object.keys(DEFAULT_EXTRAS).find((extra) => extra in raw);
  if (name === undefined) return;
  throw new TypeError(
    `jwt-defense: invalid options: ${name} was returned by the forRootAsync() factory, where it cannot decide which providers exist: move it beside useFactory (JwtDefenseModule.forRootAsync({ ${name}: ..., useFactory }))`,
  );
}

export const {
  ConfigurableModuleClass: JwtDefenseConfigurableModule,
  MODULE_OPTIONS_TOKEN: JWT_DEFENSE_MODULE_OPTIONS,
  OPTIONS_TYPE: JWT_DEFENSE_OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE: JWT_DEFENSE_ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<JwtDefenseModuleOptions>()
  .setClassMethodName('forRoot')
  .setExtras<JwtDefenseModuleExtras>(DEFAULT_EXTRAS, (definition, extras) => {
    const resolved: Required<JwtDefenseModuleExtras> = { ...DEFAULT_EXTRAS, ...extras };
    // FastifyRouteErrors: Nest's error handler for every Fastify route (see there); nothing on Express.
    const providers: Provider[] = [{ provide: JWT_DEFENSE_EXTRAS, useValue: resolved }, FastifyRouteErrors];
    if (resolved.globalGuard) providers.push({ provide: APP_GUARD, useExisting: JwtDefenseGuard });
    // Without the global guard, an interceptor applies @SecurityHeaders() overrides (and a middleware the base set).
    else providers.push({ provide: APP_INTERCEPTOR, useClass: SecurityHeadersInterceptor });
    if (resolved.exceptionFilter) providers.push({ provide: APP_FILTER, useClass: JwtDefenseExceptionFilter });
    return {
      ...definition,
      global: resolved.isGlobal,
      providers: [...(definition.providers ?? []), ...providers],
      // `@UseGuards(JwtDefenseGuard)` in the importing module resolves the guard's dependencies there.
      exports: [...(definition.exports ?? []), JWT_DEFENSE_EXTRAS],
    };
  })
  .build();

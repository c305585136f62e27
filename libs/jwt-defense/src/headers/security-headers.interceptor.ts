import { Inject, Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Observable } from 'rxjs';
import { rawResponse } from '../common/http.js';
import { JWT_DEFENSE_OPTIONS } from '../jwt-defense.tokens.js';
import type { ResolvedJwtDefenseOptions } from '../jwt-defense.options.js';
import { getPrincipal } from '../policy/current-principal.decorator.js';
import { SecurityHeaders } from './security-headers.decorator.js';
import { buildHeaderSet, type HeaderSet } from './security-headers.options.js';

interface RouteHeaders {
  set: HeaderSet;
  removed: string[];
}

/**
 * Layer 6, part 2: applies `@SecurityHeaders()` overrides of a route. The header list of each decorated
 * handler is computed once and cached; undecorated routes cost one map lookup.
 */
@Injectable()
export class SecurityHeadersInterceptor implements NestInterceptor {
  private readonly routes = new WeakMap<object, RouteHeaders | null>();

  constructor(
    private readonly reflector: Reflector,
    @Inject(JWT_DEFENSE_OPTIONS) private readonly options: ResolvedJwtDefenseOptions,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() === 'http' && this.options.securityHeaders) {
      const route = this.routeHeaders(context);
      if (route) {
        const http = context.switchToHttp();
        const response = rawResponse(http.getResponse());
        const authenticated = getPrincipal(http.getRequest()) !== undefined;
        for (const name of route.removed) {
          if (!(authenticated && name === 'cache-control')) response.removeHeader(name);
        }
        for (const [name, value] of route.set) {
          if (!(authenticated && name === 'cache-control')) response.setHeader(name, value);
        }
      }
    }
    return next.handle();
  }

  private routeHeaders(context: ExecutionContext): RouteHeaders | null {
    const handler = context.getHandler();
    let route = this.routes.get(handler);
    if (route === undefined) {
      const overrides = this.reflector.getAllAndOverride(SecurityHeaders, [handler, context.getClass()]);
      if (overrides) {
        const set = buildHeaderSet({ ...this.options.securityHeaders!, ...overrides });
        const names = new Set(set.map(([name]) => name));
        route = { set, removed: this.options.headerSet.map(([name]) => name).filter((name) => !names.has(name)) };
      } else {
        route = null;
      }
      this.routes.set(handler, route);
    }
    return route;
  }
}

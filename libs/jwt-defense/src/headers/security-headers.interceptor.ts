import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { rawResponse } from '../common/http.js';
import { getPrincipal } from '../policy/current-principal.decorator.js';
import { PolicyResolver } from '../policy/policy.resolver.js';
import { applyRouteHeaders } from './route-headers.js';

/**
 * Applies `@SecurityHeaders()` overrides when `JwtDefenseGuard` is not global (with the global guard, the
 * guard applies them itself and no interceptor runs: Nest's interceptor pipeline costs on every request).
 * Registered automatically when the module's `globalGuard` extra is `false`.
 */
@Injectable()
export class SecurityHeadersInterceptor implements NestInterceptor {
  constructor(private readonly policies: PolicyResolver) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() === 'http') {
      const route = this.policies.forContext(context).headers;
      if (route) {
        const http = context.switchToHttp();
        applyRouteHeaders(rawResponse(http.getResponse()), route, getPrincipal(http.getRequest()) !== undefined);
      }
    }
    return next.handle();
  }
}

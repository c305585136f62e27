import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor, type NestMiddleware } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { getPrincipal } from '../policy/current-principal.decorator.js';
import { PolicyResolver } from '../policy/policy.resolver.js';
import { DefenseResponseHeaders } from './response-headers.js';

/**
 * Without the global guard (`globalGuard: false`), nothing in the pipeline sees every answer: this middleware
 * hands every response to `DefenseResponseHeaders` for the base set before routing. (With the global guard it
 * is not registered: the guard and the exception filter between them see every answer.)
 */
@Injectable()
export class SecurityHeadersMiddleware implements NestMiddleware {
  constructor(private readonly headers: DefenseResponseHeaders) {}

  use(_request: unknown, response: unknown, next: () => void): void {
    this.headers.success(response, undefined, false);
    next();
  }
}

/** Without the global guard: `@SecurityHeaders()` overrides and `no-store` for authenticated answers, per route. */
@Injectable()
export class SecurityHeadersInterceptor implements NestInterceptor {
  constructor(
    private readonly policies: PolicyResolver,
    private readonly headers: DefenseResponseHeaders,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() === 'http') {
      const http = context.switchToHttp();
      this.headers.success(http.getResponse(), this.policies.forContext(context), getPrincipal(http.getRequest()) !== undefined);
    }
    return next.handle();
  }
}

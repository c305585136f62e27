import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { rawRequest } from '../common/http.js';
import { TransportNotConfiguredException } from '../errors/defense.exceptions.js';
import { DefenseResponseHeaders } from '../headers/response-headers.js';
import { JWT_DEFENSE_EXTRAS } from '../jwt-defense.tokens.js';
import type { JwtDefenseModuleExtras } from '../jwt-defense.module-definition.js';
import { PolicyResolver, type RoutePolicy } from '../policy/policy.resolver.js';
import type { AccessTokenPrincipal } from '../token/access-token-claims.js';
import { contextOf } from './pipeline-context.js';
import { authorizeByPolicy, RequestPipeline } from './request-pipeline.js';

/**
 * The one guard of jwt-defense (global by default): every HTTP request that reaches a route goes through the
 * {@link RequestPipeline} (rate limits, token, revocation, authorization), `@Public()` routes through its rate
 * limits only. Execution contexts other than HTTP are refused, never waved through.
 *
 * Extension points: subclass it (with `globalGuard: false`, then register yours) and override `getPolicy` or
 * `authorize`.
 */
@Injectable()
export class JwtDefenseGuard implements CanActivate {
  private readonly writesErrorHeaders: boolean;
  private readonly authorizer = (principal: AccessTokenPrincipal, route: RoutePolicy) => this.authorize(principal, route);

  constructor(
    protected readonly pipeline: RequestPipeline,
    protected readonly policies: PolicyResolver,
    protected readonly headers: DefenseResponseHeaders,
    @Inject(JWT_DEFENSE_EXTRAS) extras: Required<JwtDefenseModuleExtras>,
  ) {
    // Without our exception filter, the guard writes its own rejections' headers (challenge, Retry-After).
    this.writesErrorHeaders = !extras.exceptionFilter;
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') throw new TransportNotConfiguredException(context.getType());
    const route = this.getPolicy(context);
    const http = context.switchToHttp();
    const response = http.getResponse<unknown>();
    try {
      await this.pipeline.run(route, http.getRequest(), response, this.authorizer);
    } catch (error) {
      if (this.writesErrorHeaders) {
        const context = contextOf(rawRequest(http.getRequest()));
        this.headers.error(response, error, route, context?.limits, context);
      }
      throw error;
    }
    return true;
  }

  /** The route's policy (resolved once per handler). */
  protected getPolicy(context: ExecutionContext): RoutePolicy {
    return this.policies.forContext(context);
  }

  /** Throws `InsufficientScopeException` when the principal lacks a required role or scope. */
  protected authorize(principal: AccessTokenPrincipal, route: RoutePolicy): void {
    authorizeByPolicy(principal, route);
  }
}

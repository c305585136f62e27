import type { IncomingMessage } from 'node:http';
import { Inject, Injectable, Optional, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { rawRequest, rawResponse, setResponseHeader } from '../common/http.js';
import { applyRouteHeaders } from '../headers/route-headers.js';
import { setBaseHeaders } from '../headers/security-headers.middleware.js';
import { extractBearerToken } from '../edge/bearer-token.extractor.js';
import {
  DefenseStoreUnavailableException,
  InsufficientScopeException,
  InvalidTokenException,
  JwtDefenseException,
  MissingTokenException,
  RateLimitedException,
  TokenVerificationError,
} from '../errors/defense.exceptions.js';
import { SecurityEventService } from '../events/security-event.service.js';
import { JWT_DEFENSE_HEADERS_MODE, JWT_DEFENSE_OPTIONS, type HeadersMode } from '../jwt-defense.tokens.js';
import type { ResolvedJwtDefenseOptions } from '../jwt-defense.options.js';
import { RevocationService } from '../revocation/revocation.service.js';
import { DefenseStoreError } from '../store/defense-store.errors.js';
import type { AccessTokenPrincipal } from '../token/access-token-claims.js';
import { TokenService } from '../token/token.service.js';
import { ClientIpResolver } from '../throttling/client-ip.js';
import { setPrincipal } from './current-principal.decorator.js';
import { PolicyResolver, type RoutePolicy } from './policy.resolver.js';

/** Builds the RFC 6750 §3 challenge; `error` is omitted when no token was sent. */
export function bearerChallenge(realm: string, error?: string | null): string {
  return error ? `Bearer realm="${realm}", error="${error}"` : `Bearer realm="${realm}"`;
}

/**
 * Authenticates every HTTP request that is not `@Public()`: strict bearer extraction, token verification
 * (pre-filter, signature, claims), then ONE store call for revocation and the per-user rate limit, then the
 * roles/scopes of `@DefensePolicy`. The verified principal is available through `@CurrentPrincipal()`.
 *
 * Extension points: override `authorize` or `onRejected`.
 */
@Injectable()
export class JwtDefenseGuard implements CanActivate {
  constructor(
    protected readonly tokens: TokenService,
    protected readonly revocation: RevocationService,
    protected readonly policies: PolicyResolver,
    protected readonly events: SecurityEventService,
    protected readonly clientIp: ClientIpResolver,
    @Inject(JWT_DEFENSE_OPTIONS) protected readonly options: ResolvedJwtDefenseOptions,
    @Optional() @Inject(JWT_DEFENSE_HEADERS_MODE) protected readonly headersMode: HeadersMode = 'middleware',
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const policy = this.policies.forContext(context);
    const http = context.switchToHttp();
    const response = http.getResponse();
    const raw = rawResponse(response);
    if (this.headersMode === 'guard') setBaseHeaders(raw, this.options.headerSet);
    // Route header overrides apply to every answer of the route, rejections included.
    if (policy.headers) applyRouteHeaders(raw, policy.headers, false);
    if (policy.isPublic) return true;
    const request = http.getRequest();
    try {
      const rawReq = rawRequest(request);
      const token = extractBearerToken(rawReq);
      if (token === undefined) throw new MissingTokenException();
      let principal: AccessTokenPrincipal;
      try {
        principal = await this.tokens.verify(token);
      } catch (error) {
        if (error instanceof TokenVerificationError) throw new InvalidTokenException(error.code, error);
        throw error;
      }
      await this.checkState(principal, policy, rawReq);
      this.authorize(principal, policy);
      setPrincipal(request, principal);
      // Responses to authenticated requests carry personal data: never let a cache keep them.
      setResponseHeader(response, 'cache-control', 'no-store');
      return true;
    } catch (error) {
      this.onRejected(response, error);
      throw error;
    }
  }

  /** Layers 5 and 2 in ONE store round trip; applies the fail mode when the store cannot answer. */
  protected async checkState(principal: AccessTokenPrincipal, policy: RoutePolicy, request: IncomingMessage): Promise<void> {
    const user = policy.user;
    let verdict;
    try {
      verdict = await this.revocation.checkRequest(
        principal,
        user === false ? undefined : { ...user, algorithm: this.options.throttle.algorithm },
      );
    } catch (error) {
      if (!(error instanceof DefenseStoreError)) throw error;
      this.revocation.noteStoreUnavailable({ failMode: policy.failMode, ip: this.clientIp.resolve(request) });
      if (policy.failMode === 'closed') throw new DefenseStoreUnavailableException(error);
      return;
    }
    if (verdict.revoked !== undefined) throw new InvalidTokenException('token_revoked');
    if (verdict.userRate?.blocked) {
      this.events.recordSampled('rate_limited', `user:${principal.sub}`, { sub: principal.sub, ip: this.clientIp.resolve(request), details: { layer: 'user' } });
      throw new RateLimitedException(Math.max(1, Math.ceil(verdict.userRate.timeToBlockExpireMs / 1000)));
    }
  }

  /** Throws {@link InsufficientScopeException} when the principal lacks a required role or scope. */
  protected authorize(principal: AccessTokenPrincipal, policy: RoutePolicy): void {
    if (policy.roles?.length && !policy.roles.some((role) => principal.roles.includes(role))) {
      throw new InsufficientScopeException();
    }
    if (policy.scopes?.length && !policy.scopes.every((scope) => principal.scopes.includes(scope))) {
      throw new InsufficientScopeException();
    }
  }

  /** Adds the `WWW-Authenticate` challenge (RFC 6750 §3), `Retry-After` and `Cache-Control: no-store` to a rejection. */
  protected onRejected(response: unknown, error: unknown): void {
    if (!(error instanceof JwtDefenseException)) return;
    if (error.challengeError !== undefined) {
      setResponseHeader(response, 'www-authenticate', bearerChallenge(this.options.realm, error.challengeError));
    }
    if (error.retryAfterSec !== undefined) setResponseHeader(response, 'retry-after', String(error.retryAfterSec));
    setResponseHeader(response, 'cache-control', 'no-store');
  }
}

import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { rawRequest, setResponseHeader } from '../common/http.js';
import { extractBearerToken } from '../edge/bearer-token.extractor.js';
import {
  DefenseStoreUnavailableException,
  InsufficientScopeException,
  InvalidTokenException,
  JwtDefenseException,
  MissingTokenException,
  TokenVerificationError,
} from '../errors/defense.exceptions.js';
import { JWT_DEFENSE_OPTIONS } from '../jwt-defense.tokens.js';
import type { ResolvedJwtDefenseOptions } from '../jwt-defense.options.js';
import { RevocationService } from '../revocation/revocation.service.js';
import { DefenseStoreError } from '../store/defense-store.errors.js';
import type { AccessTokenPrincipal } from '../token/access-token-claims.js';
import { TokenService } from '../token/token.service.js';
import { setPrincipal } from './current-principal.decorator.js';
import { DefensePolicy, Public, type DefensePolicyOptions } from './defense-policy.decorator.js';

/** Builds the RFC 6750 §3 challenge; `error` is omitted when no token was sent. */
export function bearerChallenge(realm: string, error?: string | null): string {
  return error ? `Bearer realm="${realm}", error="${error}"` : `Bearer realm="${realm}"`;
}

/**
 * Authenticates every HTTP request that is not `@Public()`: strict bearer extraction, token verification
 * (pre-filter, signature, claims), then the roles/scopes of `@DefensePolicy`. The verified principal is
 * available through `@CurrentPrincipal()`.
 *
 * Extension points: override `getPolicy`, `authorize` or `onRejected`.
 */
@Injectable()
export class JwtDefenseGuard implements CanActivate {
  constructor(
    protected readonly reflector: Reflector,
    protected readonly tokens: TokenService,
    protected readonly revocation: RevocationService,
    @Inject(JWT_DEFENSE_OPTIONS) protected readonly options: ResolvedJwtDefenseOptions,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride(Public, targets)) return true;
    const http = context.switchToHttp();
    const request = http.getRequest();
    const response = http.getResponse();
    try {
      const token = extractBearerToken(rawRequest(request));
      if (token === undefined) throw new MissingTokenException();
      let principal: AccessTokenPrincipal;
      try {
        principal = await this.tokens.verify(token);
      } catch (error) {
        if (error instanceof TokenVerificationError) throw new InvalidTokenException(error.code, error);
        throw error;
      }
      const policy = this.getPolicy(context);
      await this.checkRevocation(principal, policy, rawRequest(request).socket?.remoteAddress);
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

  /** The effective policy: the handler's, else the controller's. */
  protected getPolicy(context: ExecutionContext): DefensePolicyOptions | undefined {
    return this.reflector.getAllAndOverride(DefensePolicy, [context.getHandler(), context.getClass()]);
  }

  /** Layer 5, one store round trip; applies the fail mode when the store cannot answer. */
  protected async checkRevocation(
    principal: AccessTokenPrincipal,
    policy: DefensePolicyOptions | undefined,
    ip: string | undefined,
  ): Promise<void> {
    let verdict;
    try {
      verdict = await this.revocation.check(principal);
    } catch (error) {
      if (!(error instanceof DefenseStoreError)) throw error;
      const failMode = policy?.failMode ?? this.options.revocation.failMode;
      this.revocation.noteStoreUnavailable({ failMode, ip });
      if (failMode === 'closed') throw new DefenseStoreUnavailableException(error);
      return;
    }
    if (verdict !== undefined) throw new InvalidTokenException('token_revoked');
  }

  /** Throws {@link InsufficientScopeException} when the principal lacks a required role or scope. */
  protected authorize(principal: AccessTokenPrincipal, policy: DefensePolicyOptions | undefined): void {
    if (!policy) return;
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

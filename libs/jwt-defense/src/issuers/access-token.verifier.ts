import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { MaybePromise } from '../common/maybe-promise.js';
import { DefenseClock } from '../common/defense-clock.js';
import { DefenseScheduler } from '../common/defense-scheduler.js';
import type { AccessTokenPrincipal } from '../token/access-token-claims.js';
import { verifyAccessToken, type IssuerKeyResolver } from '../token/access-token-verification.js';
import { TokenService } from '../token/token.service.js';
import { ExternalIssuer } from './external-issuer.js';
import type { IssuerOptions } from './issuer.options.js';

/** Injection token of the external issuers' options (`forRoot({ issuers })`). */
export const EXTERNAL_ISSUERS = Symbol('JWT_DEFENSE_EXTERNAL_ISSUERS');

/**
 * Verifies an access token from this module or from a configured external issuer, through the one verification
 * (`verifyAccessToken`) and its one cache, which `TokenService.verify` shares: the issuer's key resolver is chosen by
 * the token's `iss`, read after the structural pre-filter and before any key is chosen (this module's key ring for
 * its own issuer and any other). Verified tokens are cached by the whole token (only ever inserted after
 * verification), so repeat requests cost no signature check.
 */
@Injectable()
export class AccessTokenVerifier implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('JwtDefense');
  private readonly issuers = new Map<string, ExternalIssuer>();
  private readonly resolverFor: (iss: unknown) => IssuerKeyResolver;

  constructor(
    private readonly tokens: TokenService,
    @Inject(EXTERNAL_ISSUERS) issuers: readonly IssuerOptions[],
    clock: DefenseClock,
    private readonly scheduler: DefenseScheduler,
  ) {
    issuers.forEach((options, index) => this.issuers.set(options.issuer, new ExternalIssuer(options, () => clock.nowMs(), `issuers[${index}]`)));
    const own = tokens.keyResolver;
    this.resolverFor = this.issuers.size === 0 ? () => own : (iss) => (typeof iss === 'string' ? this.issuers.get(iss) : undefined) ?? own;
  }

  /** The external issuers, by `iss`. */
  get externalIssuers(): ReadonlyMap<string, ExternalIssuer> {
    return this.issuers;
  }

  onModuleInit(): void {
    for (const [name, issuer] of this.issuers) {
      if (issuer.options.allowInsecureLoopback) {
        this.logger.warn(`${issuer.path}.allowInsecureLoopback: the keys of ${name} may be fetched over plain http (loopback only), for development only`);
      }
      // Keys are loaded ahead of the first request, and refreshed in the background; a failure is logged (once, by
      // the key set, with what to fix), not fatal.
      void issuer.keys.refresh().catch(() => undefined);
      this.scheduler.interval(`jwt-defense:jwks:${name}`, issuer.options.jwksRefreshMs, () => issuer.keys.refresh());
    }
  }

  onModuleDestroy(): void {
    for (const name of this.issuers.keys()) this.scheduler.remove(`jwt-defense:jwks:${name}`);
  }

  /**
   * Throws `TokenVerificationError` (a 401 code), or `IssuerUnavailableException` (503) when keys cannot be had.
   * Answers synchronously (and throws synchronously) when nothing has to wait: a cached token, this module's keys.
   */
  verify(token: string): MaybePromise<AccessTokenPrincipal> {
    return verifyAccessToken(token, this.resolverFor, this.tokens.verification);
  }
}

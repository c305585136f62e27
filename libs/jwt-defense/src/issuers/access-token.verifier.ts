import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { DefenseClock } from '../common/defense-clock.js';
import { DefenseScheduler } from '../common/defense-scheduler.js';
import { parseCompactJws } from '../edge/compact-jws.js';
import { TokenVerificationError } from '../errors/defense.exceptions.js';
import { DEFENSE_METRICS } from '../jwt-defense.tokens.js';
import { NOOP_METRICS_SINK, type DefenseMetricsSink } from '../pipeline/metrics-sink.js';
import type { AccessTokenPrincipal } from '../token/access-token-claims.js';
import { TokenOptions } from '../token/token.options.js';
import { TokenService } from '../token/token.service.js';
import { VerifiedTokenCache } from '../token/verified-token.cache.js';
import { ExternalIssuer } from './external-issuer.js';
import type { IssuerOptions } from './issuer.options.js';

/** Injection token of the external issuers' options (`forRoot({ issuers })`). */
export const EXTERNAL_ISSUERS = Symbol('JWT_DEFENSE_EXTERNAL_ISSUERS');

/**
 * Verifies an access token from this module (`TokenService`) or from a configured external issuer (by its `iss`,
 * read after the structural pre-filter and before any key is chosen). Verified tokens are cached by the whole token
 * (only ever inserted after verification), so repeat requests cost no signature check.
 */
@Injectable()
export class AccessTokenVerifier implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('JwtDefense');
  private readonly issuers = new Map<string, ExternalIssuer>();
  private readonly cache?: VerifiedTokenCache;

  constructor(
    private readonly tokens: TokenService,
    private readonly tokenOptions: TokenOptions,
    @Inject(EXTERNAL_ISSUERS) issuers: readonly IssuerOptions[],
    private readonly clock: DefenseClock,
    private readonly scheduler: DefenseScheduler,
    @Inject(DEFENSE_METRICS) private readonly metrics: DefenseMetricsSink = NOOP_METRICS_SINK,
  ) {
    for (const options of issuers) this.issuers.set(options.issuer, new ExternalIssuer(options, () => clock.nowMs()));
    if (this.issuers.size > 0 && tokenOptions.verifiedTokenCacheSize > 0) {
      this.cache = new VerifiedTokenCache(tokenOptions.verifiedTokenCacheSize, Math.max(tokenOptions.clockToleranceSec, ...issuers.map((i) => i.clockToleranceSec)));
    }
  }

  /** The external issuers, by `iss`. */
  get externalIssuers(): ReadonlyMap<string, ExternalIssuer> {
    return this.issuers;
  }

  onModuleInit(): void {
    for (const [name, issuer] of this.issuers) {
      // Keys are loaded ahead of the first request, and refreshed in the background; a failure is logged, not fatal.
      void issuer.keys.refresh().catch((error: unknown) => this.logger.warn(`keys of ${name}: ${(error as Error).message}`));
      this.scheduler.interval(`jwt-defense:jwks:${name}`, issuer.options.jwksRefreshMs, () => issuer.keys.refresh());
    }
  }

  onModuleDestroy(): void {
    for (const name of this.issuers.keys()) this.scheduler.remove(`jwt-defense:jwks:${name}`);
  }

  /** Throws `TokenVerificationError` (a 401 code), or `IssuerUnavailableException` (503) when keys cannot be had. */
  async verify(token: string): Promise<AccessTokenPrincipal> {
    if (!this.issuers.size) return this.tokens.verify(token);
    if (this.cache && typeof token === 'string' && token.length <= this.tokenOptions.maxTokenBytes) {
      const nowSec = this.clock.nowSec();
      const cached = this.cache.get(token, nowSec);
      this.metrics.cacheLookup(cached !== undefined);
      if (cached) {
        if (cached.iat > nowSec + this.tokenOptions.clockToleranceSec) throw new TokenVerificationError('token_not_yet_valid');
        return cached;
      }
    }
    const jws = parseCompactJws(token, this.tokenOptions.maxTokenBytes);
    const issuer = typeof jws.payload.iss === 'string' ? this.issuers.get(jws.payload.iss) : undefined;
    const principal = issuer ? await issuer.verify(jws) : await this.tokens.verifyParsed(jws);
    this.cache?.set(token, principal);
    return principal;
  }
}

import { createHash, timingSafeEqual } from 'node:crypto';
import { Controller, Get, Header, Inject, Req } from '@nestjs/common';
import {
  InsufficientScopeException,
  InvalidTokenException,
  MissingTokenException,
  Public,
  RevocationService,
  TokenService,
  TokenVerificationError,
  type AccessTokenPrincipal,
} from '@jwt-defense/core';
import { DEMO_OPS, type DemoOps } from './ops.tokens.js';

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * `GET /metrics`: Prometheus text. Opened by an admin's access token, or by METRICS_TOKEN as a bearer (scrapers cannot
 * log in every 5 minutes); public only with METRICS_PUBLIC=true. The route is `@Public()` for the pipeline (a static
 * scraper token is not a JWT) and checks its bearer itself, with the same answers as the pipeline.
 */
@Controller()
export class MetricsController {
  private readonly tokenDigest?: Buffer;

  constructor(
    @Inject(DEMO_OPS) private readonly ops: DemoOps,
    private readonly tokens: TokenService,
    private readonly revocation: RevocationService,
  ) {
    if (ops.metricsToken !== undefined) this.tokenDigest = digest(ops.metricsToken);
  }

  @Public()
  @Get('metrics')
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  async metrics(@Req() request: { headers: Record<string, string | string[] | undefined> }): Promise<string> {
    if (!this.ops.metricsPublic) await this.authorize(request.headers.authorization);
    return this.ops.registry.metrics();
  }

  private async authorize(header: string | string[] | undefined): Promise<void> {
    if (header === undefined) throw new MissingTokenException();
    const match = typeof header === 'string' ? /^Bearer ([\x21-\x7e]+)$/i.exec(header) : null;
    if (!match) throw new InvalidTokenException('token_malformed');
    const presented = match[1];
    // Compared as digests, in constant time: the length of the secret is not leaked either.
    if (this.tokenDigest && timingSafeEqual(digest(presented), this.tokenDigest)) return;
    let principal: AccessTokenPrincipal;
    try {
      principal = await this.tokens.verify(presented);
    } catch (error) {
      if (error instanceof TokenVerificationError) throw new InvalidTokenException(error.code, error);
      throw error;
    }
    if (await this.revocation.check(principal)) throw new InvalidTokenException('token_revoked');
    if (!principal.roles.includes('admin')) throw new InsufficientScopeException();
  }
}

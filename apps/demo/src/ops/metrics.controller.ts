import { createHash, timingSafeEqual } from 'node:crypto';
import { Controller, Get, Header, Inject, Req, Res } from '@nestjs/common';
import { DefenseAuthenticator, Public, type DefensePolicyOptions } from '@jwt-defense/core';
import { DEMO_OPS, type DemoOps } from './ops.tokens.js';

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** Who may scrape without METRICS_TOKEN: an admin's access token, through the whole pipeline. */
const ADMINS: DefensePolicyOptions = { roles: ['admin'] };

/**
 * `GET /metrics`: Prometheus text. Opened by an admin's access token, or by METRICS_TOKEN as a bearer (scrapers cannot
 * log in every 5 minutes); public only with METRICS_PUBLIC=true. The route is `@Public()` for the guard (a static
 * scraper token is not a JWT); any other bearer goes through `DefenseAuthenticator`, the same pipeline as every
 * route (DPoP, lockdown, revocation, limits, risk, anomaly), with the admin role required.
 */
@Controller()
export class MetricsController {
  private readonly tokenDigest?: Buffer;

  constructor(
    @Inject(DEMO_OPS) private readonly ops: DemoOps,
    private readonly authenticator: DefenseAuthenticator,
  ) {
    if (ops.metricsToken !== undefined) this.tokenDigest = digest(ops.metricsToken);
  }

  @Public()
  @Get('metrics')
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  async metrics(@Req() request: { headers: Record<string, string | string[] | undefined> }, @Res({ passthrough: true }) response: unknown): Promise<string> {
    if (!this.ops.metricsPublic && !this.isScraperToken(request.headers.authorization)) {
      await this.authenticator.authenticate(request, { policy: ADMINS, name: '/metrics', response });
    }
    return this.ops.registry.metrics();
  }

  /** METRICS_TOKEN as `Bearer <token>`, compared as digests in constant time (the secret's length is not leaked). */
  private isScraperToken(header: string | string[] | undefined): boolean {
    if (!this.tokenDigest || typeof header !== 'string') return false;
    const match = /^Bearer ([\x21-\x7e]+)$/i.exec(header);
    return match !== null && timingSafeEqual(digest(match[1]), this.tokenDigest);
  }
}

import { createHash, timingSafeEqual } from 'node:crypto';
import { Get, Header, Inject, Req, Res } from '@nestjs/common';
import { Public, type DefensePolicyOptions } from '../policy/defense-policy.decorator.js';
import { OPS_OPTIONS, OpsServices } from './ops.services.js';
import type { JwtDefenseOpsOptions, OpsMetricsOptions } from './ops.options.js';

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * `GET /metrics`: Prometheus text. Opened by an admin's access token, or by `metrics.token` as a bearer; public only
 * with `metrics.public`. The route is `@Public()` for the guard (a static scraper token is not a JWT); any other
 * bearer goes through `DefenseAuthenticator`, the same pipeline as every route (DPoP, lockdown, revocation, limits,
 * risk, anomaly), with the admin roles required.
 */
export class MetricsController {
  private readonly options: OpsMetricsOptions;
  private readonly tokenDigest?: Buffer;
  /** Who may scrape without the token (a constant: the authenticator resolves a policy once per object). */
  private readonly admins: DefensePolicyOptions;

  constructor(
    @Inject(OPS_OPTIONS) options: JwtDefenseOpsOptions,
    @Inject(OpsServices) private readonly ops: OpsServices,
  ) {
    this.options = options.metrics as OpsMetricsOptions;
    this.admins = { roles: options.roles };
    if (this.options.token !== undefined) this.tokenDigest = digest(this.options.token);
  }

  @Public()
  @Get('metrics')
  @Header('content-type', 'text/plain; version=0.0.4; charset=utf-8')
  async metrics(@Req() request: { headers: Record<string, string | string[] | undefined> }, @Res({ passthrough: true }) response: unknown): Promise<string> {
    if (!this.options.public && !this.isScraperToken(request.headers.authorization)) {
      await this.ops.authenticator.authenticate(request, { policy: this.admins, name: '/metrics', response });
    }
    return this.options.registry.metrics();
  }

  /** The token as `Bearer <token>`, compared as digests in constant time (the secret's length is not leaked). */
  private isScraperToken(header: string | string[] | undefined): boolean {
    if (!this.tokenDigest || typeof header !== 'string') return false;
    const match = /^Bearer ([\x21-\x7e]+)$/i.exec(header);
    return match !== null && timingSafeEqual(digest(match[1]), this.tokenDigest);
  }
}

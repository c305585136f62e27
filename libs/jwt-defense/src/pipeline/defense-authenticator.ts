import { Injectable } from '@nestjs/common';
import type { DefensePolicyOptions } from '../policy/defense-policy.decorator.js';
import { PolicyResolver } from '../policy/policy.resolver.js';
import type { AccessTokenPrincipal } from '../token/access-token-claims.js';
import { RequestPipeline } from './request-pipeline.js';

/** What `DefenseAuthenticator.authenticate` needs beyond the request. */
export interface AuthenticateOptions {
  /**
   * Roles, scopes, limits, risk, anomaly and fail mode, as `@DefensePolicy()` takes them. Resolved once per object:
   * pass a constant. Default: the module's defaults.
   */
  policy?: DefensePolicyOptions;
  /** Names the surface in events and metrics, where routes have their template: e.g. `/metrics`. Default `authenticate`. */
  name?: string;
  /** The response, when there is one: it gets the success headers (`Cache-Control: no-store`...). */
  response?: unknown;
}

const DEFAULT_POLICY: DefensePolicyOptions = {};

/**
 * The one public way to authenticate a request that no guarded route covers: a `@Public()` route that also accepts
 * a token (a metrics endpoint, a health page with details), a raw handler, a custom transport. It runs the request
 * through the whole pipeline, exactly as the guard does: the per-IP limit (once per request), the token and its DPoP
 * proof, the incident lockdown, revocation, the per-user limit, context risk, anomaly monitoring, then the policy's
 * roles and scopes. There is no other: `TokenService.verify` checks a signature and claims, it does not authenticate.
 * @hideconstructor
 */
@Injectable()
export class DefenseAuthenticator {
  constructor(
    private readonly pipeline: RequestPipeline,
    private readonly policies: PolicyResolver,
  ) {}

  /**
   * Resolves with the verified principal (also on the request for `@CurrentPrincipal()`), or throws the
   * `JwtDefenseException` that answers the request (401 with its challenge, 403, 429, 503): throw it on, and the
   * module's exception filter answers as for any route.
   */
  async authenticate(request: unknown, options: AuthenticateOptions = {}): Promise<AccessTokenPrincipal> {
    const route = this.policies.forOptions(options.name ?? 'authenticate', options.policy ?? DEFAULT_POLICY);
    return (await this.pipeline.run(route, request, options.response))!;
  }
}

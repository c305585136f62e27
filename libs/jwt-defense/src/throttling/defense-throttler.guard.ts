import { Inject, Injectable, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  InjectThrottlerOptions,
  InjectThrottlerStorage,
  ThrottlerGuard,
  type ThrottlerLimitDetail,
  type ThrottlerModuleOptions,
  type ThrottlerRequest,
  type ThrottlerStorage,
} from '@nestjs/throttler';
import { rawRequest } from '../common/http.js';
import { DefenseStoreUnavailableException, RateLimitedException } from '../errors/defense.exceptions.js';
import { SecurityEventService } from '../events/security-event.service.js';
import { JWT_DEFENSE_OPTIONS } from '../jwt-defense.tokens.js';
import type { ResolvedJwtDefenseOptions } from '../jwt-defense.options.js';
import { PolicyResolver } from '../policy/policy.resolver.js';
import { RevocationService } from '../revocation/revocation.service.js';
import { DefenseStoreError } from '../store/defense-store.errors.js';
import { ClientIpResolver } from './client-ip.js';

/** Names of the throttlers jwt-defense registers with @nestjs/throttler. */
export const IP_THROTTLER = 'default';
export const BODY_THROTTLER = 'body';

function bodyField(request: Record<string, unknown>, field: string): string {
  const value = (request.body as Record<string, unknown> | undefined)?.[field];
  return typeof value === 'string' ? value.trim().toLowerCase().slice(0, 128) : '';
}

/**
 * Layer 2, before authentication: @nestjs/throttler's guard with our storage, tracker and policies.
 * - The client is the socket address, or the forwarded one through `throttle.trustProxy` only.
 * - Per IP: one budget per client across routes (`throttle.ip`); a route with its own `ip` limit counts apart.
 * - Per body field (`@DefensePolicy({ throttle: { body: { field: 'username', ... } } })`): per username on login.
 * - 429: `rate_limited`, `Retry-After` in seconds, a sampled `rate_limited` event.
 * - Store down: `throttle.failMode` (open by default), with a sampled `store_unavailable` event.
 * The per-user limit is counted later, inside the JwtDefenseGuard's single store call.
 */
@Injectable()
export class DefenseThrottlerGuard extends ThrottlerGuard {
  constructor(
    @InjectThrottlerOptions() options: ThrottlerModuleOptions,
    @InjectThrottlerStorage() storage: ThrottlerStorage,
    reflector: Reflector,
    protected readonly policies: PolicyResolver,
    protected readonly clientIp: ClientIpResolver,
    protected readonly events: SecurityEventService,
    protected readonly revocation: RevocationService,
    @Inject(JWT_DEFENSE_OPTIONS) protected readonly defenseOptions: ResolvedJwtDefenseOptions,
  ) {
    super(options, storage, reflector);
  }

  private readonly tracker = (request: Record<string, unknown>) => this.getTracker(request);
  private readonly key = (context: ExecutionContext, tracker: string, name: string) => this.generateKey(context, tracker, name);

  /**
   * Limits come from the route's cached policy (handleRequest), so the stock per-request reflector lookups
   * (six per throttler) are skipped. Use `@DefensePolicy({ throttle })`, not `@Throttle`/`@SkipThrottle`.
   */
  override async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    for (const throttler of this.throttlers) {
      await this.handleRequest({ context, throttler, limit: 0, ttl: 0, blockDuration: 0, getTracker: this.tracker, generateKey: this.key });
    }
    return true;
  }

  protected override async handleRequest(props: ThrottlerRequest): Promise<boolean> {
    const policy = this.policies.forContext(props.context);
    let request: ThrottlerRequest;
    if (props.throttler.name === BODY_THROTTLER) {
      const body = policy.body;
      if (!body) return true;
      request = { ...props, limit: body.limit, ttl: body.ttlMs, blockDuration: body.blockDurationMs, getTracker: async (req) => bodyField(req, body.field) };
    } else {
      if (policy.ip === false) return true;
      request = { ...props, limit: policy.ip.limit, ttl: policy.ip.ttlMs, blockDuration: policy.ip.blockDurationMs };
    }
    try {
      return await super.handleRequest(request);
    } catch (error) {
      if (!(error instanceof DefenseStoreError)) throw error;
      const failMode = this.defenseOptions.throttle.failMode;
      this.revocation.noteStoreUnavailable({ failMode, layer: 'throttle', ip: await this.getTracker(props.context.switchToHttp().getRequest()) });
      if (failMode === 'closed') throw new DefenseStoreUnavailableException(error);
      return true;
    }
  }

  protected override async getTracker(request: Record<string, unknown>): Promise<string> {
    return this.clientIp.resolve(rawRequest(request));
  }

  /** Routes without their own IP limit share one budget per client; the stock key is per route. */
  protected override generateKey(context: ExecutionContext, tracker: string, name: string): string {
    // The client address itself is the key (no hash per request): it is what access logs hold anyway.
    if (name === IP_THROTTLER && !this.policies.forContext(context).ipOwnCounter) return `ip:${tracker}`;
    return super.generateKey(context, tracker, name);
  }

  protected override async throwThrottlingException(context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    const ip = await this.getTracker(context.switchToHttp().getRequest());
    this.events.recordSampled('rate_limited', `${detail.key}`, { ip, details: { layer: 'ip', limit: detail.limit, ttlMs: detail.ttl } });
    // Express responses and Fastify replies both have header(name, value).
    const retryAfterSec = Math.max(1, Math.ceil(detail.timeToBlockExpire));
    context.switchToHttp().getResponse<{ header(name: string, value: string): unknown }>().header('retry-after', String(retryAfterSec));
    throw new RateLimitedException(retryAfterSec);
  }
}

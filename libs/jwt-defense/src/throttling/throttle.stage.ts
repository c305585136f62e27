import { Inject, Injectable } from '@nestjs/common';
import { DefenseClock } from '../common/defense-clock.js';
import { RateLimitedException } from '../errors/defense.exceptions.js';
import { SecurityEventService } from '../events/security-event.service.js';
import type { CheckStage } from '../pipeline/check-stage.js';
import type { PipelineContext } from '../pipeline/pipeline-context.js';
import { StoreFailures } from '../pipeline/store-failure.js';
import type { RouteRateLimit } from '../policy/policy.resolver.js';
import { askPart, partResult, type DefenseCheckRequest, type DefenseCheckResult } from '../store/check-part.js';
import { RateLimitStore } from '../store/defense-store.ports.js';
import { USER_RATE_PART } from './user-rate.check-part.js';
import type { RateLimitResult } from './rate-limit.js';
import { ThrottleOptions } from './throttle.options.js';

type Counter = 'ip' | 'body' | 'user';

/** The key of a body-field limit: the member's string value, trimmed, lower-cased, at most 128 characters. */
function bodyKey(body: unknown, field: string): string {
  const value = body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[field] : undefined;
  return typeof value === 'string' ? value.trim().toLowerCase().slice(0, 128) : '';
}

/**
 * Layer 2: before authentication, the per-IP limit and the body-field limit (e.g. per username on login),
 * each one atomic store call, sent together; after verification, the per-user limit, counted inside the
 * request's ONE check call. One way to refuse: 429 `rate_limited` with `Retry-After` and a sampled event.
 */
@Injectable()
export class ThrottleStage implements CheckStage {
  readonly layer = 'throttle' as const;
  constructor(
    @Inject(RateLimitStore) private readonly store: RateLimitStore,
    private readonly failures: StoreFailures,
    private readonly events: SecurityEventService,
    private readonly clock: DefenseClock,
    private readonly options: ThrottleOptions,
  ) {}

  /** Per IP and per body field; resolves when both allow (or fail open). */
  async beforeAuth(context: PipelineContext): Promise<void> {
    const { ip, body } = context.route;
    if (ip === false && body === undefined) return;
    const nowMs = this.clock.nowMs();
    const key = body && bodyKey(context.httpRequest.body, body.field);
    if (ip !== false && key) {
      await Promise.all([this.count(context, 'ip', ip, context.clientIp, nowMs), this.count(context, 'body', body!, key, nowMs)]);
    } else if (ip !== false) {
      await this.count(context, 'ip', ip, context.clientIp, nowMs);
    } else if (key) {
      await this.count(context, 'body', body!, key, nowMs);
    }
  }

  prepare(context: PipelineContext, check: DefenseCheckRequest): void {
    const user = context.route.user;
    if (user === false) return;
    askPart(check, USER_RATE_PART, { limit: user.limit, ttlMs: user.ttlMs, blockDurationMs: user.blockDurationMs, algorithm: user.algorithm, nowMs: this.clock.nowMs() });
  }

  decide(context: PipelineContext, result: DefenseCheckResult): void {
    const user = context.route.user;
    const counted = partResult(result, USER_RATE_PART);
    if (user === false || !counted) return;
    this.counted(context, 'user', user, counted);
  }

  private async count(context: PipelineContext, counter: Counter, limit: RouteRateLimit, key: string, nowMs: number): Promise<void> {
    let result: RateLimitResult;
    try {
      // A body-field counter (a username) is made by the client that sends it: its share of the space is bounded.
      const principal = counter === 'body' ? { principal: context.clientIp } : {};
      result = await this.store.hit({ space: limit.space, key, limit: limit.limit, ttlMs: limit.ttlMs, blockDurationMs: limit.blockDurationMs, algorithm: limit.algorithm, nowMs, ...principal });
    } catch (error) {
      this.failures.handle(error, 'throttle', counter === 'body' ? this.options.bodyFailMode : this.options.failMode, context);
      return;
    }
    this.counted(context, counter, limit, result);
  }

  private counted(context: PipelineContext, counter: Counter, limit: RouteRateLimit, result: RateLimitResult): void {
    // Kept for the opt-in RateLimit fields only. Body-field counters never show: they would tell anyone about
    // login activity on any account.
    if (this.options.headers && counter !== 'body') (context.limits ??= []).push({ name: counter, limit: limit.limit, ttlMs: limit.ttlMs, result });
    if (!result.blocked) return;
    const sub = counter === 'user' ? context.principal?.sub : undefined;
    this.events.recordSampled('rate_limited', `${counter}:${sub ?? context.clientIp}:${limit.space}`, {
      sub,
      ip: context.clientIp,
      details: { layer: counter, limit: limit.limit, ttlMs: limit.ttlMs },
    });
    throw new RateLimitedException(Math.max(1, Math.ceil(result.timeToBlockExpireMs / 1000)));
  }
}

import { Inject, Injectable } from '@nestjs/common';
import proxyAddr from 'proxy-addr';
import { DefenseClock } from '../common/defense-clock.js';
import { isPromise, type MaybePromise } from '../common/maybe-promise.js';
import { RateLimitedException } from '../errors/defense.exceptions.js';
import { SecurityEventService } from '../events/security-event.service.js';
import type { CheckStage } from '../pipeline/check-stage.js';
import type { PipelineContext } from '../pipeline/pipeline-context.js';
import { StoreFailures } from '../pipeline/store-failure.js';
import type { RouteRateLimit } from '../policy/policy.resolver.js';
import { askPart, partResult, type DefenseCheckRequest, type DefenseCheckResult } from '../store/check-part.js';
import { DefenseStoreError, StoreCapacityError } from '../store/defense-store.errors.js';
import { RateLimitStore } from '../store/defense-store.ports.js';
import { InsuranceLimiter } from './insurance-limiter.js';
import { IP_RATE_PART } from './ip-rate.check-part.js';
import { LocalBlocks } from './local-blocks.js';
import { USER_RATE_PART } from './user-rate.check-part.js';
import type { RateLimitResult } from './rate-limit.js';
import { ThrottleOptions } from './throttle.options.js';

type Counter = 'ip' | 'body' | 'user';

/** Blocks remembered per instance (a client each): ~100 bytes apiece. */
const LOCAL_BLOCKS = 10_000;


/** Which client's block, in which counter space. */
function blockKey(limit: RouteRateLimit, ip: string): string {
  return `${limit.space}\u001f${ip}`;
}

/** The key of a body-field limit: the member's string value, trimmed, lower-cased, at most 128 characters. */
function bodyKey(body: unknown, field: string): string {
  const value = body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[field] : undefined;
  return typeof value === 'string' ? value.trim().toLowerCase().slice(0, 128) : '';
}

/**
 * Layer 2: the per-IP limit and the body-field limit (e.g. per username on login) before authentication, the per-user
 * limit inside the request's ONE store call. With a store in this process (memory), the per-IP counter is hit before
 * authentication. With a remote store (Redis), an authenticated route's per-IP count goes with the ONE call (a part,
 * counted first, whatever else refuses: one round trip per request), or, for a request refused before the call (a
 * forged token), with one hit; a block the store answered is remembered, so the client's next requests are refused
 * before any token work and without a round trip. Public routes and body-field limits are hit before authentication.
 * A client on `throttle.allow` skips the per-IP and per-user limits (never a body-field one).
 * One way to refuse: 429 `rate_limited` with `Retry-After` and a sampled event. A count the store could not make
 * goes to the counter's fail mode, or, with `throttle.insurance`, to this instance's share counted in memory.
 */
@Injectable()
export class ThrottleStage implements CheckStage {
  readonly layer = 'throttle' as const;
  /** The per-IP count of authenticated routes goes with the ONE call (a remote store). */
  private readonly countsInCall: boolean;
  private readonly blocks = new LocalBlocks(LOCAL_BLOCKS);
  /** `throttle.allow`, compiled once; none without a list (no lookup at all). */
  private readonly allowList: ((address: string, index: number) => boolean) | undefined;
  /** Counts the limits on this instance while the store cannot (`throttle.insurance`). */
  private readonly insurance?: InsuranceLimiter;

  constructor(
    @Inject(RateLimitStore) private readonly store: RateLimitStore & { readonly kind?: string },
    private readonly failures: StoreFailures,
    private readonly events: SecurityEventService,
    private readonly clock: DefenseClock,
    private readonly options: ThrottleOptions,
  ) {
    this.countsInCall = store.kind !== 'memory';
    this.allowList = options.allow.length > 0 ? proxyAddr.compile([...options.allow]) : undefined;
    if (options.insurance) this.insurance = new InsuranceLimiter(options.insurance.instances);
  }

  /**
   * Per IP and per body field: returns when they allow (or fail open), throws the refusal; a promise only when the
   * store answers later (Redis) or both are counted (a login).
   */
  beforeAuth(context: PipelineContext): void | Promise<void> {
    // The one match of the request (the user limit reads its answer): the client's own address, not its IPv6 group.
    if (this.allowList !== undefined && this.allowList(context.clientAddress, 0)) context.allowListed = true;
    const { body } = context.route;
    const ip = context.allowListed ? false : context.route.ip;
    if (ip === false && body === undefined) return;
    const nowMs = this.clock.nowMs();
    const key = body && bodyKey(context.httpRequest.body, body.field);
    if (ip !== false && key) {
      // Both counted, whichever refuses.
      return Promise.all([this.countLater(context, 'ip', ip, context.clientIp, nowMs), this.countLater(context, 'body', body!, key, nowMs)]).then(() => undefined);
    }
    if (key) return this.count(context, 'body', body!, key, nowMs);
    if (ip === false) return;
    if (context.route.isPublic || !this.countsInCall) return this.count(context, 'ip', ip, context.clientIp, nowMs);
    const blockedMs = this.blocks.remainingMs(blockKey(ip, context.clientIp), nowMs);
    if (blockedMs > 0) return this.counted(context, 'ip', ip, { totalHits: ip.limit + 1, timeToExpireMs: blockedMs, blocked: true, timeToBlockExpireMs: blockedMs });
    context.ipOwed = { limit: ip, nowMs };
  }

  prepare(context: PipelineContext, check: DefenseCheckRequest): void {
    const owed = context.ipOwed;
    if (owed) {
      const { limit } = owed;
      askPart(check, IP_RATE_PART, { space: limit.space, ip: context.clientIp, limit: limit.limit, ttlMs: limit.ttlMs, blockDurationMs: limit.blockDurationMs, algorithm: limit.algorithm, nowMs: owed.nowMs });
    }
    const { user, userBy } = context.route;
    // An allow-listed client has no user limit. With throttle.userBy, on a route with the default limit: the verified
    // token's claim picks it (a Map lookup).
    const limit = context.allowListed ? false : userBy === undefined ? user : userBy.limitOf(context.principal!.claims, user);
    context.userLimit = limit;
    if (limit === false) return;
    // One literal shape per part input (a spread makes a new object shape on every request).
    askPart(check, USER_RATE_PART, { limit: limit.limit, ttlMs: limit.ttlMs, blockDurationMs: limit.blockDurationMs, algorithm: limit.algorithm, nowMs: this.clock.nowMs(), counter: limit.counter });
  }

  /** The per-IP count first (its 429 comes before any other refusal, as a count before authentication would), then the user's. */
  decide(context: PipelineContext, result: DefenseCheckResult): void {
    const owed = context.ipOwed;
    const ipCounted = partResult(result, IP_RATE_PART);
    if (owed && ipCounted) {
      context.ipOwed = undefined;
      this.counted(context, 'ip', owed.limit, ipCounted);
    }
    const user = context.userLimit;
    const counted = partResult(result, USER_RATE_PART);
    if (user === undefined || user === false || !counted) return;
    this.counted(context, 'user', user, counted);
  }

  /**
   * The ONE call failed: the per-IP count it carried has this layer's fail mode (open by default; closed: 503), or its
   * insurance. The per-user limit follows the call's fail mode, or, insured on a route whose call fails open, this
   * instance's share (a route failing closed answers 503 whatever the count).
   */
  failed(context: PipelineContext, error: unknown): void {
    const owed = context.ipOwed;
    try {
      if (owed !== undefined) {
        context.ipOwed = undefined;
        this.fail(context, 'ip', owed.limit, context.clientIp, owed.nowMs, error);
      }
      // The user's limit as prepare() chose it (none when allow-listed; a throttle.userBy value's own counter).
      const user = context.userLimit;
      if (user === undefined || user === false || context.route.failMode === 'closed' || !this.insurance) return;
      const identity = context.identity!;
      const key = user.counter === undefined ? `${identity.tag}:${identity.subject}` : `${identity.tag}:${user.counter}:${identity.subject}`;
      this.insure(context, 'user', user, key, identity.tag, this.clock.nowMs(), error);
    } catch (refusal) {
      // Refused by this layer, not by the call's fail mode (the pipeline reports the layer).
      if (refusal instanceof RateLimitedException) context.layer = this.layer;
      throw refusal;
    }
  }

  /**
   * A request refused before its ONE call was made (a missing or forged token, a measure from memory): the per-IP
   * count the call would have made, as one hit. Throws (or rejects with) the 429 when the client is over its limit.
   */
  countOwed(context: PipelineContext): void | Promise<void> {
    const owed = context.ipOwed;
    if (owed === undefined) return;
    context.ipOwed = undefined;
    return this.count(context, 'ip', owed.limit, context.clientIp, owed.nowMs);
  }

  /** One counter: at once on a store that answers at once (memory), after its answer otherwise. */
  private count(context: PipelineContext, counter: Counter, limit: RouteRateLimit, key: string, nowMs: number): void | Promise<void> {
    let answer: MaybePromise<RateLimitResult>;
    try {
      // A body-field counter (a username) is made by the client that sends it: its share of the space is bounded.
      const principal = counter === 'body' ? { principal: context.clientIp } : {};
      answer = this.store.hit({ space: limit.space, key, limit: limit.limit, ttlMs: limit.ttlMs, blockDurationMs: limit.blockDurationMs, algorithm: limit.algorithm, nowMs, ...principal });
    } catch (error) {
      return this.fail(context, counter, limit, key, nowMs, error);
    }
    if (!isPromise(answer)) return this.counted(context, counter, limit, answer);
    return answer.then(
      (result) => this.counted(context, counter, limit, result),
      (error: unknown) => this.fail(context, counter, limit, key, nowMs, error),
    );
  }

  private async countLater(context: PipelineContext, counter: Counter, limit: RouteRateLimit, key: string, nowMs: number): Promise<void> {
    return this.count(context, counter, limit, key, nowMs);
  }

  /** The store could not count `key`: insured, this instance's share decides; else the counter's fail mode. */
  private fail(context: PipelineContext, counter: Counter, limit: RouteRateLimit, key: string, nowMs: number, error: unknown): void {
    if (this.insure(context, counter, limit, key, context.clientIp, nowMs, error)) return;
    this.failures.handle(error, 'throttle', counter === 'body' ? this.options.bodyFailMode : this.options.failMode, context);
  }

  /**
   * Counts `key` in this instance's share of `limit` (`throttle.insurance`), held by `owner`: returns true when it
   * decided (throws the 429 above the share), false when the limit's fail mode applies instead (no insurance, the limit
   * opts out, not an outage, or the insurance's space is full of active blocks).
   */
  private insure(context: PipelineContext, counter: Counter, limit: RouteRateLimit, key: string, owner: string, nowMs: number, error: unknown): boolean {
    const insurance = this.insurance;
    // A full store answered: that is no outage to insure.
    if (!insurance || !limit.insured || !(error instanceof DefenseStoreError) || error instanceof StoreCapacityError) return false;
    const share = insurance.share(limit);
    let result: RateLimitResult;
    try {
      result = insurance.hit(share, key, owner, nowMs);
    } catch (full) {
      if (full instanceof StoreCapacityError) return false;
      throw full;
    }
    // The per-user count's request is reported by the call's fail mode (`fail_open`), as without insurance.
    this.failures.insured(error, this.layer, context, counter !== 'user' && !result.blocked);
    this.counted(context, counter, share, result, false);
    return true;
  }

  /** `remember`: a block the store answered (an insured one is this instance's alone: the store counts again once back). */
  private counted(context: PipelineContext, counter: Counter, limit: RouteRateLimit, result: RateLimitResult, remember = true): void {
    // Kept for the opt-in RateLimit fields only. Body-field counters never show: they would tell anyone about
    // login activity on any account.
    if (this.options.headers && counter !== 'body') (context.limits ??= []).push({ name: counter, limit: limit.limit, ttlMs: limit.ttlMs, result });
    if (!result.blocked) return;
    if (counter === 'ip' && this.countsInCall && remember) this.blocks.remember(blockKey(limit, context.clientIp), this.clock.nowMs() + result.timeToBlockExpireMs);
    const sub = counter === 'user' ? context.principal?.sub : undefined;
    this.events.recordSampled('rate_limited', `${counter}:${sub ?? context.clientIp}:${limit.space}`, {
      sub,
      ip: context.clientIp,
      details: { layer: counter, limit: limit.limit, ttlMs: limit.ttlMs },
    });
    throw new RateLimitedException(Math.max(1, Math.ceil(result.timeToBlockExpireMs / 1000)));
  }
}

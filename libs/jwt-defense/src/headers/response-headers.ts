import type { ServerResponse } from 'node:http';
import { Inject, Injectable, Optional, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { rawResponse } from '../common/http.js';
import { JwtDefenseException } from '../errors/defense.exceptions.js';
import { REALM } from '../jwt-defense.tokens.js';
import type { RoutePolicy } from '../policy/policy.resolver.js';
import type { RateLimitResult } from '../throttling/rate-limit.js';
import { ThrottleOptions } from '../throttling/throttle.options.js';
import { DpopOptions } from '../dpop/dpop.options.js';
import type { PipelineContext } from '../pipeline/pipeline-context.js';
import { buildHeaderSet, SecurityHeadersOptions, type HeaderSet } from './security-headers.options.js';

/** A header set prepared once: as a list (Express) and as an object (one bulk call on Fastify), with and without `no-store`. */
class PreparedHeaders {
  readonly object: Readonly<Record<string, string>>;
  readonly noStore: PreparedHeaders;

  constructor(
    readonly list: HeaderSet,
    isNoStore = false,
  ) {
    this.object = Object.fromEntries(list);
    this.noStore = isNoStore || this.object['cache-control'] === 'no-store' ? this : new PreparedHeaders(withNoStore(list), true);
  }
}

function withNoStore(list: HeaderSet): HeaderSet {
  return [...list.filter(([name]) => name !== 'cache-control'), ['cache-control', 'no-store']];
}

/** A rate limit that was counted for this request, for the opt-in `RateLimit` fields. */
export interface CountedLimit {
  readonly name: 'ip' | 'user';
  readonly limit: number;
  readonly ttlMs: number;
  readonly result: RateLimitResult;
}

type FastifyLikeReply = { raw: ServerResponse; headers(values: Record<string, string>): unknown; header(name: string, value: string): unknown };

function isFastifyReply(response: unknown): response is FastifyLikeReply {
  // Node's response (Express's too) has `setHeader` on its prototype, a Fastify reply has not: the common answer, found
  // without looking for a `raw` that Express's response does not have (a miss walks its whole prototype chain).
  if (typeof (response as Partial<ServerResponse>).setHeader === 'function') return false;
  const reply = response as Partial<FastifyLikeReply>;
  return reply.raw !== undefined && typeof reply.headers === 'function';
}

/**
 * Layer 6, and the ONE writer of response headers. Stages never write headers: they throw exceptions that carry
 * what the answer needs (code, challenge, `Retry-After`), and this writes, once per answer: the security
 * headers (a route's `@SecurityHeaders()` set, or the base set), `Cache-Control: no-store` on authenticated
 * answers and on every error, the `WWW-Authenticate` challenge, `Retry-After` on every 429 and 503, and the
 * IETF `RateLimit` fields when `throttle.headers` opts in (never for body-field limits).
 */
@Injectable()
export class DefenseResponseHeaders implements OnModuleInit {
  private readonly base: PreparedHeaders;
  private readonly routes = new WeakMap<object, PreparedHeaders>();
  private readonly rateLimitHeaders: boolean;

  private readonly dpopAlgs: string;
  private readonly dpopRequired: boolean;
  /** Express's `X-Powered-By` is off for the whole app (set at boot): no answer needs it removed. */
  private poweredByOff = false;

  constructor(
    @Inject(SecurityHeadersOptions) options: SecurityHeadersOptions | false,
    @Inject(REALM) private readonly realm: string,
    throttle: ThrottleOptions,
    dpop: DpopOptions,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
  ) {
    this.dpopAlgs = dpop.algorithms.join(' ');
    this.dpopRequired = dpop.mode === 'required';
    this.base = new PreparedHeaders(options === false ? [] : buildHeaderSet(options));
    this.rateLimitHeaders = throttle.headers;
  }

  /**
   * On Express, `X-Powered-By` (which names the framework to an attacker) is switched off for the whole app, once:
   * removing it from each answer would cost every request (a deleted header slows every later one it sets).
   */
  onModuleInit(): void {
    const instance = this.adapterHost?.httpAdapter?.getInstance?.() as { disable?: (setting: string) => unknown } | undefined;
    if (this.adapterHost?.httpAdapter?.getType?.() === 'express' && typeof instance?.disable === 'function') {
      instance.disable('x-powered-by');
      this.poweredByOff = true;
    }
  }

  /** The headers of a successful answer on `route`. */
  success(response: unknown, route: RoutePolicy | undefined, authenticated: boolean, limits?: readonly CountedLimit[]): void {
    const prepared = this.forRoute(route);
    this.write(response, authenticated ? prepared.noStore : prepared);
    if (this.rateLimitHeaders && limits?.length) this.writeRateLimits(response, limits);
  }

  /** The headers of an error answer (any error: ours, the framework's, the app's). */
  error(response: unknown, error: unknown, route?: RoutePolicy, limits?: readonly CountedLimit[], context?: PipelineContext): void {
    const raw = rawResponse(response);
    if (raw.headersSent) return;
    this.write(response, this.forRoute(route).noStore);
    if (this.rateLimitHeaders && limits?.length) this.writeRateLimits(response, limits);
    if (!(error instanceof JwtDefenseException)) return;
    if (error.challengeError !== undefined) set(response, 'www-authenticate', this.challenge(error, context));
    if (error.retryAfterSec !== undefined) set(response, 'retry-after', String(Math.max(1, Math.ceil(error.retryAfterSec))));
    for (const [name, value] of Object.entries(error.responseHeaders ?? {})) set(response, name, value);
  }

  /**
   * The challenge of an exception: RFC 6750 §3 (`error` omitted when no token was sent), in the `DPoP` scheme (RFC
   * 9449 §7.1, with `algs`) for DPoP errors, for a request that used the DPoP scheme or a bound token, and for a
   * missing token when DPoP is required.
   */
  challenge(error: JwtDefenseException, context?: PipelineContext): string {
    const dpop =
      error.challengeScheme === 'DPoP' ||
      context?.scheme === 'DPoP' ||
      context?.principal?.jkt !== undefined ||
      (this.dpopRequired && error.challengeError === null);
    let value = dpop ? `DPoP realm="${this.realm}", algs="${this.dpopAlgs}"` : `Bearer realm="${this.realm}"`;
    if (error.challengeError) value += `, error="${error.challengeError}"`;
    for (const [name, param] of Object.entries(error.challengeParams ?? {})) value += `, ${name}="${param}"`;
    return value;
  }

  private forRoute(route: RoutePolicy | undefined): PreparedHeaders {
    const routeHeaders = route?.headers;
    if (!routeHeaders) return this.base;
    let prepared = this.routes.get(routeHeaders);
    if (!prepared) {
      prepared = new PreparedHeaders(routeHeaders.set);
      this.routes.set(routeHeaders, prepared);
    }
    return prepared;
  }

  private write(response: unknown, headers: PreparedHeaders): void {
    if (isFastifyReply(response)) {
      response.headers(headers.object as Record<string, string>);
      return;
    }
    const raw = response as ServerResponse;
    if (!this.poweredByOff) raw.removeHeader('x-powered-by');
    for (const [name, value] of headers.list) raw.setHeader(name, value);
  }

  private writeRateLimits(response: unknown, limits: readonly CountedLimit[]): void {
    const policy = limits.map((limit) => `"${limit.name}";q=${limit.limit};w=${Math.ceil(limit.ttlMs / 1000)}`).join(', ');
    const state = limits
      .map(({ name, limit, result }) => {
        const remaining = result.blocked ? 0 : Math.max(0, limit - result.totalHits);
        const resetSec = Math.ceil((result.blocked ? result.timeToBlockExpireMs : result.timeToExpireMs) / 1000);
        return `"${name}";r=${remaining};t=${resetSec}`;
      })
      .join(', ');
    set(response, 'ratelimit-policy', policy);
    set(response, 'ratelimit', state);
  }
}

function set(response: unknown, name: string, value: string): void {
  if (isFastifyReply(response)) response.header(name, value);
  else (response as ServerResponse).setHeader(name, value);
}

import { createHash } from 'node:crypto';
import { Inject, Injectable, Logger, RequestMethod, type ExecutionContext, type OnModuleInit } from '@nestjs/common';
import { ApplicationConfig, DiscoveryService, MetadataScanner, ModulesContainer, Reflector } from '@nestjs/core';
import { resolveOptions } from '../common/options.js';
import { routeHeadersFor, type RouteHeaders } from '../headers/route-headers.js';
import { SecurityHeaders } from '../headers/security-headers.decorator.js';
import { SecurityHeadersOptions } from '../headers/security-headers.options.js';
import type { FailMode } from '../pipeline/fail-mode.js';
import { RevocationOptions } from '../revocation/revocation.options.js';
import { RiskOptions, RouteRiskOptions, type LayerMode } from '../risk/risk.options.js';
import { AnomalyOptions, RouteAnomalyOptions, type AnomalyContainment } from '../monitoring/anomaly.options.js';
import type { RateLimitAlgorithm } from '../throttling/rate-limit.js';
import { ThrottleOptions, ThrottlePolicyOptions, type RateLimitOptions } from '../throttling/throttle.options.js';
import { UserLimitsByClaim, userCounterOf } from '../throttling/user-limits-by-claim.js';
import type { JwtDefenseModuleExtras } from '../jwt-defense.module-definition.js';
import { JWT_DEFENSE_EXTRAS } from '../jwt-defense.tokens.js';
import { DefensePolicy, Public, type DefensePolicyOptions } from './defense-policy.decorator.js';
import { appGuardsOf, guardsOn, isDefenseGuard, isThrottlerGuard, namesCountedOn, refuseUncountedThrottlers, type AppGuards } from './route-guards.js';

/** A limit with every field set, and the counter space it counts in. */
export interface RouteRateLimit {
  /** `ip` (one budget per client across routes), `user`, `body`, or the route's own space. */
  readonly space: string;
  readonly limit: number;
  readonly ttlMs: number;
  readonly blockDurationMs: number;
  readonly algorithm: RateLimitAlgorithm;
  /** The user's counter a per-user limit counts on: a `throttle.userBy` value's own; absent: the user's counter. */
  readonly counter?: string;
  /** Counted on this instance while the store is down, when `throttle.insurance` is on (the limit's `insurance`). */
  readonly insured: boolean;
}

/** Everything the pipeline needs to know about a route, computed once per handler (never per request). */
export interface RoutePolicy {
  readonly isPublic: boolean;
  /** `Controller.handler`, for events and metrics. */
  readonly name: string;
  /** The route template (`orders/:id`), never a raw URL. */
  readonly template: string;
  readonly roles?: readonly string[];
  readonly scopes?: readonly string[];
  readonly failMode: FailMode;
  readonly ip: RouteRateLimit | false;
  readonly user: RouteRateLimit | false;
  /** On a route with the default user limit, with `throttle.userBy`: the principal's claim picks it (`user` is the fallback). */
  readonly userBy?: UserLimitsByClaim;
  readonly body?: RouteRateLimit & { readonly field: string };
  /** `@SecurityHeaders()` overrides, when the route has some. */
  readonly headers?: RouteHeaders;
  /** A short stable id of the template (the anomaly layer's per-route key: bounded field names). */
  readonly routeId: string;
  readonly risk: { readonly mode: LayerMode; readonly stepUpAt: number; readonly denyAt: number };
  readonly anomaly: { readonly mode: LayerMode; readonly containment: AnomalyContainment };
}

// @nestjs/throttler's metadata keys (its decorators' contract; the constants are not in its public barrel).
const THROTTLER_SKIP = 'THROTTLER:SKIP';
const THROTTLER_LIMIT = 'THROTTLER:LIMIT';
const THROTTLER_TTL = 'THROTTLER:TTL';
const THROTTLER_BLOCK_DURATION = 'THROTTLER:BLOCK_DURATION';
/** The throttler names read from `@Throttle()` (`default` and `ip`: the per-IP limit; `user`) and `@SkipThrottle()` (and `body`). */
const THROTTLE_NAMES: ReadonlySet<string> = new Set(['default', 'ip', 'user']);
const SKIP_NAMES: ReadonlySet<string> = new Set(['default', 'ip', 'user', 'body']);

/**
 * Refuses a `@Throttle()` or `@SkipThrottle()` naming a throttler this module does not count (`{ short: ... }`), which
 * would otherwise do nothing at all, unless a `ThrottlerGuard` on the route counts a throttler of that name (`counted`):
 * the error names it and what to use instead.
 */
function refuseUnknownThrottlers(targets: readonly object[], name: string, counted: ReadonlySet<string>): void {
  for (const target of targets) {
    for (const key of Reflect.getOwnMetadataKeys(target)) {
      if (typeof key !== 'string') continue;
      const [decorator, known, throttler] = key.startsWith(THROTTLER_LIMIT)
        ? ['@Throttle', THROTTLE_NAMES, key.slice(THROTTLER_LIMIT.length)]
        : key.startsWith(THROTTLER_SKIP)
          ? ['@SkipThrottle', SKIP_NAMES, key.slice(THROTTLER_SKIP.length)]
          : [];
      if (throttler === undefined || known!.has(throttler) || counted.has(throttler)) continue;
      throw new TypeError(
        `jwt-defense: ${decorator} of ${name} names the throttler "${throttler}", which jwt-defense does not count (named throttlers are not windows of its limits yet): ` +
          `use ${[...known!].map((one) => `"${one}"`).join(', ')} ("default" and "ip" are the per-IP limit), or @DefensePolicy({ throttle: { ip: { limit, ttlMs } } }) or a throttle.profiles entry for a limit of its own (or a ThrottlerModule throttler of that name, with ThrottlerGuard on the route)`,
      );
    }
  }
}

/** Nest's `@Controller()`/`@Get()` path and `@Get()`/`@Post()` method metadata keys. */
const PATH_METADATA = 'path';
const METHOD_METADATA = 'method';
/** What a `@DefensePolicy()` asks that only `JwtDefenseGuard` enforces (`throttle: false` and `failMode` only relax). */
const GUARD_ENFORCED: ReadonlyArray<keyof DefensePolicyOptions> = ['throttle', 'roles', 'scopes', 'risk', 'anomaly'];

type Handler = (...args: never[]) => unknown;
type ControllerClass = new (...args: never[]) => unknown;

/**
 * Resolves `@Public()`, `@DefensePolicy()`, `@SecurityHeaders()` and @nestjs/throttler's `@Throttle()` /
 * `@SkipThrottle()` (handler over controller) with the module defaults, once per handler: no reflector lookup on
 * the hot path. Every controller route is resolved at boot, so a bad policy stops the app with its path; with
 * `globalGuard: false`, a route whose policy no `JwtDefenseGuard` enforces gets a warning.
 */
@Injectable()
export class PolicyResolver implements OnModuleInit {
  private readonly cache = new WeakMap<object, Map<object, RoutePolicy>>();
  private readonly byOptions = new WeakMap<DefensePolicyOptions, RoutePolicy>();
  private readonly logger = new Logger('JwtDefense');
  private appGuards?: AppGuards;
  private readonly userBy: UserLimitsByClaim | undefined;

  constructor(
    private readonly reflector: Reflector,
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly throttle: ThrottleOptions,
    private readonly revocation: RevocationOptions,
    @Inject(SecurityHeadersOptions) private readonly securityHeaders: SecurityHeadersOptions | false,
    private readonly riskOptions: RiskOptions,
    private readonly anomalyOptions: AnomalyOptions,
    @Inject(JWT_DEFENSE_EXTRAS) private readonly extras: Required<JwtDefenseModuleExtras>,
    private readonly modules: ModulesContainer,
    private readonly config: ApplicationConfig,
  ) {
    this.userBy = throttle.userBy ? new UserLimitsByClaim(throttle.userBy, throttle.algorithm) : undefined;
  }

  onModuleInit(): void {
    refuseUncountedThrottlers(this.app);
    for (const wrapper of this.discovery.getControllers()) {
      const instance = wrapper.instance as object | undefined;
      const controller = wrapper.metatype as ControllerClass | undefined;
      if (!instance || !controller) continue;
      const prototype = Object.getPrototypeOf(instance) as Record<string, unknown>;
      for (const name of this.scanner.getAllMethodNames(prototype)) {
        const handler = prototype[name] as Handler;
        const policy = this.forHandler(handler, controller);
        if (!this.extras.globalGuard) this.warnIfUnguarded(handler, controller, policy);
      }
    }
  }

  /** The app's guards and `ThrottlerModule` throttlers (every module is loaded by the first lookup). */
  private get app(): AppGuards {
    return (this.appGuards ??= appGuardsOf(this.modules, this.config));
  }

  /**
   * With `globalGuard: false`: a route carrying a `@DefensePolicy()` or a `@Throttle()` that only a guard enforces, on
   * which no `JwtDefenseGuard` runs (neither `@UseGuards()` on it or its controller, nor an `APP_GUARD`), is named at boot.
   * Such a login answers every password guess, without a limit.
   */
  private warnIfUnguarded(handler: Handler, controller: ControllerClass, policy: RoutePolicy): void {
    if (Reflect.getMetadata(PATH_METADATA, handler) === undefined) return;
    const guards = guardsOn(this.app, handler, controller);
    if (guards.some(isDefenseGuard)) return;
    const declared: DefensePolicyOptions = this.reflector.getAllAndOverride(DefensePolicy, [handler, controller]) ?? {};
    const asked = GUARD_ENFORCED.filter((field) => declared[field] !== undefined && declared[field] !== false);
    const unenforced = asked.length > 0 ? [`@DefensePolicy({ ${asked.join(', ')} })`] : [];
    const throttled = [handler, controller].some((target) => Reflect.getOwnMetadataKeys(target).some((key) => typeof key === 'string' && key.startsWith(THROTTLER_LIMIT)));
    // A ThrottlerGuard on the route counts its @Throttle() itself.
    if (throttled && !guards.some(isThrottlerGuard)) unenforced.push('@Throttle()');
    if (unenforced.length === 0) return;
    const method = RequestMethod[(Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod | undefined) ?? RequestMethod.GET];
    this.logger.warn(
      `${policy.name} (${method} ${policy.template}) has ${unenforced.join(' and ')}, which only JwtDefenseGuard enforces, and no JwtDefenseGuard runs on it (globalGuard: false): ` +
        'the route answers without those limits and checks. Put @UseGuards(JwtDefenseGuard) on it or its controller, or register the guard as an APP_GUARD',
    );
  }

  /** The policy of the route a request is on. */
  forContext(context: ExecutionContext): RoutePolicy {
    return this.forHandler(context.getHandler() as Handler, context.getClass() as ControllerClass);
  }

  forHandler(handler: Handler, controller: ControllerClass): RoutePolicy {
    let byController = this.cache.get(handler);
    let policy = byController?.get(controller);
    if (policy) return policy;
    policy = this.resolve(handler, controller);
    if (!byController) {
      byController = new Map();
      this.cache.set(handler, byController);
    }
    byController.set(controller, policy);
    return policy;
  }

  /**
   * The policy of a surface that is not a route handler (`DefenseAuthenticator.authenticate`), from the same options
   * as `@DefensePolicy()`, resolved once per options object. `name` stands for the route in events and metrics.
   */
  forOptions(name: string, declared: DefensePolicyOptions): RoutePolicy {
    let policy = this.byOptions.get(declared);
    if (!policy) {
      policy = this.build(name, name, declared, { isPublic: false, headers: routeHeadersFor(undefined, this.securityHeaders, name) });
      this.byOptions.set(declared, policy);
    }
    return policy;
  }

  private resolve(handler: Handler, controller: ControllerClass): RoutePolicy {
    const targets = [handler, controller];
    const name = `${controller.name}.${handler.name}`;
    refuseUnknownThrottlers(targets, name, namesCountedOn(this.app, guardsOn(this.app, handler, controller)));
    const declared: DefensePolicyOptions = this.reflector.getAllAndOverride(DefensePolicy, targets) ?? {};
    const skipped = (throttler: string) => this.reflector.getAllAndOverride<boolean>(`${THROTTLER_SKIP}${throttler}`, targets) === true;
    const stock = (throttler: string): RateLimitOptions | undefined => {
      const limit = this.reflector.getAllAndOverride<number>(`${THROTTLER_LIMIT}${throttler}`, targets);
      const ttlMs = this.reflector.getAllAndOverride<number>(`${THROTTLER_TTL}${throttler}`, targets);
      if (limit === undefined && ttlMs === undefined) return undefined;
      const blockDurationMs = this.reflector.getAllAndOverride<number>(`${THROTTLER_BLOCK_DURATION}${throttler}`, targets);
      return resolveOptions(ThrottlePolicyOptions, { ip: { limit, ttlMs, blockDurationMs } }, `@Throttle of ${name}`).ip as RateLimitOptions;
    };
    return this.build(name, this.template(handler, controller), declared, {
      isPublic: this.reflector.getAllAndOverride(Public, targets) === true,
      headers: routeHeadersFor(this.reflector.getAllAndOverride(SecurityHeaders, targets), this.securityHeaders, name),
      skipped,
      stock,
    });
  }

  /** A route's policy from its declared options and what its decorators say (@nestjs/throttler's among them). */
  private build(
    name: string,
    template: string,
    declared: DefensePolicyOptions,
    found: { isPublic: boolean; headers?: RouteHeaders; skipped?: (throttler: string) => boolean; stock?: (throttler: string) => RateLimitOptions | undefined },
  ): RoutePolicy {
    const { skipped = () => false, stock = () => undefined, headers } = found;
    const where = `@DefensePolicy of ${name}: throttle`;
    let policy: ThrottlePolicyOptions | false;
    if (declared.throttle === false) policy = false;
    else if (typeof declared.throttle === 'string') {
      const profile = this.throttle.profiles[declared.throttle];
      if (!profile) throw new TypeError(`jwt-defense: ${where} names profile "${declared.throttle}", which throttle.profiles does not define`);
      policy = profile;
    } else policy = resolveOptions(ThrottlePolicyOptions, declared.throttle, where);

    const ownIp = stock('default') ?? stock('ip') ?? (policy === false ? undefined : policy.ip);
    const userLimit = stock('user') ?? (policy === false ? undefined : policy.user);
    const skipAll = skipped('default');
    const noUserLimit = policy === false || skipAll || skipped('user');

    const risk = resolveOptions(RouteRiskOptions, declared.risk, `@DefensePolicy of ${name}: risk`);
    const anomaly = resolveOptions(RouteAnomalyOptions, declared.anomaly, `@DefensePolicy of ${name}: anomaly`);
    const stepUpAt = risk.stepUpAt ?? this.riskOptions.stepUpAt;
    const denyAt = risk.denyAt ?? this.riskOptions.denyAt;
    if (stepUpAt > denyAt) throw new TypeError(`jwt-defense: @DefensePolicy of ${name}: risk.stepUpAt must not be greater than risk.denyAt`);
    return {
      name,
      headers,
      template,
      routeId: createHash('sha256').update(`${name} ${template}`).digest('base64url').slice(0, 10),
      risk: { mode: risk.mode ?? this.riskOptions.mode, stepUpAt, denyAt },
      anomaly: { mode: anomaly.mode ?? this.anomalyOptions.mode, containment: anomaly.containment ?? this.anomalyOptions.containment },
      isPublic: found.isPublic,
      roles: declared.roles,
      scopes: declared.scopes,
      failMode: declared.failMode ?? this.revocation.failMode,
      ip: policy === false || skipAll || skipped('ip') ? false : this.limit(ownIp ?? this.throttle.ip, ownIp ? `ip:${name}` : 'ip'),
      // A route's own user limit counts on a counter of its own (as its own per-IP limit does): sharing the user's one
      // counter with limits of other sizes and windows would let each refuse, or restart, the other's window.
      user: noUserLimit ? false : this.limit(userLimit ?? this.throttle.user, 'user', userLimit === undefined ? undefined : userCounterOf('route', name)),
      // A route's own user limit (false included) applies to everyone; the principal's claim picks only the default.
      userBy: noUserLimit || userLimit !== undefined ? undefined : this.userBy,
      body:
        policy === false || !policy.body || skipAll || skipped('body')
          ? undefined
          : { ...(this.limit(policy.body, 'body') as RouteRateLimit), field: policy.body.field },
    };
  }

  private limit(options: RateLimitOptions | false, space: string, counter?: string): RouteRateLimit | false {
    if (options === false) return false;
    return {
      space,
      limit: options.limit,
      ttlMs: options.ttlMs,
      blockDurationMs: options.blockDurationMs ?? options.ttlMs,
      algorithm: this.throttle.algorithm,
      insured: options.insurance !== false,
      ...(counter === undefined ? {} : { counter }),
    };
  }

  private template(handler: Handler, controller: ControllerClass): string {
    const parts = [Reflect.getMetadata(PATH_METADATA, controller), Reflect.getMetadata(PATH_METADATA, handler)]
      .flatMap((path: unknown) => (Array.isArray(path) ? path.slice(0, 1) : [path]))
      .filter((path): path is string => typeof path === 'string')
      .map((path) => path.replace(/^\/+|\/+$/g, ''))
      .filter(Boolean);
    // Resolvers, gateway handlers and message handlers have no path: their name stands for the route.
    if (parts.length === 0 && Reflect.getMetadata(PATH_METADATA, handler) === undefined) return `${controller.name}.${handler.name}`;
    return `/${parts.join('/')}`;
  }
}

import { Inject, Injectable, type ExecutionContext, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { JWT_DEFENSE_OPTIONS } from '../jwt-defense.tokens.js';
import type { ResolvedJwtDefenseOptions } from '../jwt-defense.options.js';
import { resolveThrottlePolicy, type ResolvedRateLimit, type ResolvedThrottlePolicy } from '../throttling/throttle-options.resolver.js';
import { DefensePolicy, Public, type DefensePolicyOptions } from './defense-policy.decorator.js';
import { SecurityHeaders } from '../headers/security-headers.decorator.js';
import { routeHeadersFor, type RouteHeaders } from '../headers/route-headers.js';

/** Everything the guards need to know about a route, computed once per handler. */
export interface RoutePolicy {
  readonly isPublic: boolean;
  readonly roles?: readonly string[];
  readonly scopes?: readonly string[];
  readonly failMode: 'open' | 'closed';
  /** Per-IP limit, and whether the route counts it on its own counter (it set its own limit). */
  readonly ip: ResolvedRateLimit | false;
  readonly ipOwnCounter: boolean;
  readonly user: ResolvedRateLimit | false;
  readonly body?: ResolvedRateLimit & { field: string };
  /** `@SecurityHeaders()` overrides, when the route has some. */
  readonly headers?: RouteHeaders;
}

/**
 * Resolves `@Public()` and `@DefensePolicy()` (handler over controller) with the module defaults, once per
 * handler: no reflector lookups on the hot path. Every decorated route is resolved at boot, so an unknown
 * throttle profile or a bad inline limit stops the app with a message naming it.
 */
@Injectable()
export class PolicyResolver implements OnModuleInit {
  private readonly cache = new WeakMap<object, Map<object, RoutePolicy>>();

  constructor(
    private readonly reflector: Reflector,
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    @Inject(JWT_DEFENSE_OPTIONS) private readonly options: ResolvedJwtDefenseOptions,
  ) {}

  onModuleInit(): void {
    for (const wrapper of this.discovery.getControllers()) {
      const instance = wrapper.instance as object | undefined;
      const controller = wrapper.metatype as (new (...args: never[]) => unknown) | undefined;
      if (!instance || !controller) continue;
      const prototype = Object.getPrototypeOf(instance) as Record<string, unknown>;
      for (const name of this.scanner.getAllMethodNames(prototype)) {
        this.forHandler(prototype[name] as object, controller);
      }
    }
  }

  /** The policy of the route a request is on. */
  forContext(context: ExecutionContext): RoutePolicy {
    return this.forHandler(context.getHandler(), context.getClass());
  }

  forHandler(handler: object, controller: object): RoutePolicy {
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

  private resolve(handler: object, controller: object): RoutePolicy {
    const targets = [handler as () => unknown, controller as new () => unknown];
    const isPublic = this.reflector.getAllAndOverride(Public, targets) === true;
    const declared: DefensePolicyOptions = this.reflector.getAllAndOverride(DefensePolicy, targets) ?? {};
    const defaults = this.options.throttle;
    let throttle: ResolvedThrottlePolicy | false = {};
    const where = `@DefensePolicy of ${(controller as { name?: string }).name ?? 'a controller'}`;
    if (declared.throttle === false) {
      throttle = false;
    } else if (typeof declared.throttle === 'string') {
      const profile = defaults.profiles[declared.throttle];
      if (!profile) {
        throw new TypeError(`jwt-defense: ${where} names throttle profile "${declared.throttle}", which throttle.profiles does not define`);
      }
      throttle = profile;
    } else if (declared.throttle !== undefined) {
      throttle = resolveThrottlePolicy(declared.throttle, `${where}: throttle`);
    }
    const headers = routeHeadersFor(
      this.reflector.getAllAndOverride(SecurityHeaders, targets),
      this.options.securityHeaders,
      this.options.headerSet,
    );
    return {
      headers,
      isPublic,
      roles: declared.roles,
      scopes: declared.scopes,
      failMode: declared.failMode ?? this.options.revocation.failMode,
      ip: throttle === false ? false : (throttle.ip ?? defaults.ip),
      ipOwnCounter: throttle !== false && throttle.ip !== undefined,
      user: throttle === false ? false : (throttle.user ?? defaults.user),
      body: throttle === false ? undefined : throttle.body,
    };
  }
}

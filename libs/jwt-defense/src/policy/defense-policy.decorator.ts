import { Reflector } from '@nestjs/core';
import type { OptionsInput } from '../common/options.js';
import type { FailMode } from '../pipeline/fail-mode.js';
import type { RouteRiskOptions } from '../risk/risk.options.js';
import type { RouteAnomalyOptions } from '../monitoring/anomaly.options.js';
import type { ThrottlePolicyOptions } from '../throttling/throttle.options.js';

/** Per-controller or per-handler policy. A handler's policy replaces its controller's (getAllAndOverride). */
export interface DefensePolicyOptions {
  /** The caller needs at least one of these roles (from the `roles` claim); otherwise 403 `insufficient_scope`. */
  roles?: string[];
  /** The caller needs every one of these scopes (from the `scope` claim); otherwise 403 `insufficient_scope`. */
  scopes?: string[];
  /** When the store is down during the per-request check: `closed` → 503, `open` → through, with an event. Default: `revocation.failMode`. */
  failMode?: FailMode;
  /**
   * Rate limits of the route: a profile name from `throttle.profiles` (e.g. `'login'`), inline limits, or
   * `false` for none. Default: `throttle.ip` per client and `throttle.user` per user. @nestjs/throttler's
   * `@Throttle()` and `@SkipThrottle()` are honoured too (see docs/THROTTLING.md).
   */
  throttle?: string | OptionsInput<ThrottlePolicyOptions> | false;
  /** Context risk on this route: `{ mode?, stepUpAt?, denyAt? }` over the module's `risk` options. */
  risk?: OptionsInput<RouteRiskOptions>;
  /** Anomaly monitoring on this route: `{ mode?, containment? }` over the module's `anomaly` options. */
  anomaly?: OptionsInput<RouteAnomalyOptions>;
}

/** Attaches a {@link DefensePolicyOptions} to a controller or a handler. */
export const DefensePolicy = Reflector.createDecorator<DefensePolicyOptions>();

/** Shorthand for `@DefensePolicy({ roles })`: the caller needs one of the roles. */
export const RequireRoles = (...roles: string[]) => DefensePolicy({ roles });

/** Marks a controller or handler as reachable without a token (rate limits per IP still apply). */
export const Public = Reflector.createDecorator<boolean>({ transform: () => true });

import { Reflector } from '@nestjs/core';
import type { ThrottlePolicy } from '../throttling/throttle-policy.js';

/** Per-controller or per-handler policy. A handler's policy replaces its controller's (getAllAndOverride). */
export interface DefensePolicyOptions {
  /** The caller needs at least one of these roles (from the `roles` claim); otherwise 403 `insufficient_scope`. */
  roles?: string[];
  /** The caller needs every one of these scopes (from the `scope` claim); otherwise 403 `insufficient_scope`. */
  scopes?: string[];
  /** When the defence store is down: `closed` → 503, `open` → let through and record an event. Default: `revocation.failMode`. */
  failMode?: 'open' | 'closed';
  /**
   * Rate limits of the route: a profile name from `throttle.profiles` (e.g. `'login'`), inline limits, or
   * `false` for none. Default: `throttle.ip` per client and `throttle.user` per user.
   */
  throttle?: string | ThrottlePolicy | false;
}

/** Attaches a {@link DefensePolicyOptions} to a controller or a handler. */
export const DefensePolicy = Reflector.createDecorator<DefensePolicyOptions>();

/** Shorthand for `@DefensePolicy({ roles })`: the caller needs one of the roles. */
export const RequireRoles = (...roles: string[]) => DefensePolicy({ roles });

/** Marks a controller or handler as reachable without a token (the guard skips it). */
export const Public = Reflector.createDecorator<boolean>({ transform: () => true });

import { IsArray, IsBoolean, IsIn, IsInt, IsOptional, IsString, Length, Matches, Max, Min } from 'class-validator';
import proxyAddr from 'proxy-addr';
import { Nested, NestedRecord, OptionsCheck, optionsError, REQUIRED } from '../common/options.js';
import type { RateLimitAlgorithm } from './rate-limit.js';
import { FAIL_MODES, type FailMode } from '../pipeline/fail-mode.js';

const MAX_WINDOW_MS = 7 * 24 * 3_600_000;

/** At most `limit` requests per `ttlMs`; beyond it, refused for `blockDurationMs`. */
export class RateLimitOptions {
  declare readonly [REQUIRED]?: { limit: true; ttlMs: true };
  /** Requests allowed per window. Required; 1 to 1000000000. */
  @IsInt() @Min(1) @Max(1_000_000_000) limit!: number;
  /** Window length, in ms. Required; 1 to 604800000 (7 days). */
  @IsInt() @Min(1) @Max(MAX_WINDOW_MS) ttlMs!: number;
  /** How long a client that went over stays refused, in ms. Default: `ttlMs`; `0`: only until the window ends. */
  @IsOptional() @IsInt() @Min(0) @Max(MAX_WINDOW_MS) blockDurationMs?: number;
  /**
   * With `throttle.insurance` on: `false` leaves this limit to its fail mode while the store is down, instead of this
   * instance's share counted in memory. Default `true`.
   */
  @IsOptional() @IsBoolean() insurance?: boolean;
}

/** A limit keyed by a field of the request body, e.g. `username` on a login route (credential stuffing). */
export class BodyRateLimitOptions extends RateLimitOptions {
  declare readonly [REQUIRED]?: { limit: true; ttlMs: true; field: true };
  /** Top-level body member whose value (trimmed, lower-cased, at most 128 characters) is the key. Required. */
  @Matches(/^[A-Za-z0-9_-]{1,64}$/, { message: 'field must name a top-level body member ([A-Za-z0-9_-]{1,64})' }) field!: string;
}

/** Rate limits of a route (a profile, or inline in `@DefensePolicy({ throttle })`). `false` turns one off. */
export class ThrottlePolicyOptions {
  declare readonly [REQUIRED]?: {};
  /** Per client IP, before authentication. A route with its own `ip` limit counts on its own counter. */
  @Nested(() => RateLimitOptions, { orBoolean: 'false' }) ip?: RateLimitOptions | false;
  /**
   * Per authenticated user, counted inside the per-request check (no extra round trip). A route with its own `user`
   * limit counts on its own counter per user.
   */
  @Nested(() => RateLimitOptions, { orBoolean: 'false' }) user?: RateLimitOptions | false;
  /** Per value of a body field, before authentication. Fails closed by default (`bodyFailMode`). */
  @Nested(() => BodyRateLimitOptions) body?: BodyRateLimitOptions;
}

/**
 * The per-user limit by principal: a claim of the verified token (a plan, a tier, a `client_id`) picks the per-user
 * limit of the routes that have the default one (`throttle.user`); a route's own user limit applies to everyone.
 */
@OptionsCheck<UserLimitsByClaimOptions>((options, path) => {
  const { limits } = options as { limits?: unknown };
  if (limits === undefined || Object.keys(limits as object).length === 0) {
    throw optionsError(`${path}.limits`, "must map at least one claim value to a limit, e.g. { free: { limit: 100, ttlMs: 60000 }, internal: false }");
  }
})
export class UserLimitsByClaimOptions {
  declare readonly [REQUIRED]?: { claim: true; limits: true };
  /**
   * The claim whose value picks the limit, read from the verified token (this module's or an external issuer's), by
   * its exact name first (`plan`, `client_id`, `https://example.com/plan`, `permissions`), then as a dot path
   * (`app_metadata.plan`). A string is looked up as it is (case-sensitive); an array of strings (Auth0's
   * `permissions`, `cognito:groups`) gets the first entry of `limits`, in the order written, that it contains; any
   * other value, or no such claim, gets the route's default limit. Required; 1 to 256 characters.
   */
  @IsString() @Length(1, 256) claim!: string;
  /**
   * Claim value → its per-user limit (`{ limit, ttlMs, blockDurationMs? }`, ms), or `false`: no per-user limit for
   * that principal (the per-IP limit still applies). A value not listed gets the route's default (`throttle.user`).
   * Each value counts on a counter of its own per user, so a principal whose value changes starts that value's
   * window afresh. For an array claim the order is the precedence (as JavaScript orders keys: integer-like ones,
   * `'2'`, come first). Required; at least one entry.
   */
  @NestedRecord(() => RateLimitOptions, { orFalse: true }) limits!: Record<string, RateLimitOptions | false>;
}

/**
 * Per-instance limits while the store is down (`throttle.insurance`): each instance counts a limit the store could not
 * count in memory, with its share of it, `ceil(limit / instances)` per window.
 */
export class ThrottleInsuranceOptions {
  declare readonly [REQUIRED]?: { instances: true };
  /**
   * How many instances share the limits (a count of processes, 1 to 1000). Required. Across the fleet, at most
   * `instances × ceil(limit / instances)` pass per window only when it is the real number: more instances let more
   * through, fewer are stricter.
   */
  @IsInt() @Min(1) @Max(1000) instances!: number;
}

/** Layer 2 options: rate limits per client IP, per user and per body field. */
@OptionsCheck<ThrottleOptions>((options, path) => {
  options.allow.forEach((entry, index) => {
    try {
      proxyAddr.compile([entry]); // one entry at a time: a string alone would be split at commas
    } catch {
      throw optionsError(`${path}.allow[${index}]`, 'must be an IP address or a CIDR (e.g. "10.0.0.0/8" or "2001:db8::/32")');
    }
  });
})
export class ThrottleOptions {
  declare readonly [REQUIRED]?: {};
  /** Default limit per client IP on every route, one budget across routes. Default 100 per 60000 ms; `false`: none. */
  @Nested(() => RateLimitOptions, { orBoolean: 'false' }) ip: RateLimitOptions | false = { limit: 100, ttlMs: 60_000 };
  /** Default limit per authenticated user on every route. Default 100 per 60000 ms; `false`: none. */
  @Nested(() => RateLimitOptions, { orBoolean: 'false' }) user: RateLimitOptions | false = { limit: 100, ttlMs: 60_000 };
  /**
   * The per-user limit by principal: a claim of the verified token picks the limit on every route whose user limit is
   * `user` (a route's own, from `@DefensePolicy`, a profile or `@Throttle({ user })`, applies to everyone), resolved
   * per request from the token, with no extra store round trip, e.g.
   * `{ claim: 'plan', limits: { free: { limit: 100, ttlMs: 60000 }, pro: { limit: 10000, ttlMs: 60000 }, internal: false } }`.
   * Default none: every user gets `user`.
   */
  @Nested(() => UserLimitsByClaimOptions) userBy?: UserLimitsByClaimOptions;
  /**
   * Counting of every limit: `fixed` (a counter per window: cheap, but 2× `limit` can pass across a boundary)
   * or `sliding` (the previous window weighted by its overlap: no boundary burst, same O(1) state). Default `fixed`.
   */
  @IsIn(['fixed', 'sliding']) algorithm: RateLimitAlgorithm = 'fixed';
  /** Named route policies for `@DefensePolicy({ throttle: 'name' })`, e.g. `login`. Default none. */
  @NestedRecord(() => ThrottlePolicyOptions) profiles: Record<string, ThrottlePolicyOptions> = {};
  /**
   * Store down while counting a per-IP limit: `open` lets the request through (with a `store_unavailable`
   * event), `closed` answers 503. Default `open`.
   */
  @IsIn(FAIL_MODES) failMode: FailMode = 'open';
  /**
   * Store down while counting a body-field limit (a login's per-username limit): `closed` answers 503 before the
   * handler runs, so an outage never turns login into an unthrottled password oracle. Default `closed`.
   */
  @IsIn(FAIL_MODES) bodyFailMode: FailMode = 'closed';
  /**
   * Store down while counting a limit (per IP, per body field, per user): instead of that limit's fail mode, this
   * instance counts it in memory (the memory store's counters and bounds) with its share, `ceil(limit / instances)` per
   * window: 429 above it, through within it (with a sampled `store_unavailable` event, `details.failMode: 'insurance'`).
   * The per-request check's own fail mode (`revocation.failMode`) still applies. A limit opts out with
   * `insurance: false`. Default `false` (each limit's fail mode).
   */
  @Nested(() => ThrottleInsuranceOptions, { orBoolean: 'false' }) insurance: ThrottleInsuranceOptions | false = false;
  /**
   * Send the IETF `RateLimit` and `RateLimit-Policy` fields (draft-ietf-httpapi-ratelimit-headers) for the
   * per-IP and per-user limits. Never for body-field limits (they would show login activity on any account).
   * Default `false`.
   */
  @IsBoolean() headers: boolean = false;
  /**
   * Clients that skip the per-IP and per-user limits: IP addresses or CIDRs, IPv4 and IPv6, matched against the
   * client's address as the module resolves it (through `proxy.trusted` proxies only). Never authentication (the token
   * is verified and every other layer applies), never a body-field limit (a login's per-username limit: anyone can type
   * a username), never the storages of an app's own `ThrottlerModule`. Default none.
   */
  @IsArray() @IsString({ each: true }) allow: string[] = [];
}

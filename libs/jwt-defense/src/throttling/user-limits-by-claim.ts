import { createHash } from 'node:crypto';
import type { RouteRateLimit } from '../policy/policy.resolver.js';
import { claimAt } from '../token/access-token-claims.js';
import type { RateLimitAlgorithm } from './rate-limit.js';
import type { UserLimitsByClaimOptions } from './throttle.options.js';

/** A claim value's limit, and its precedence when the claim is an array (its place in `limits`). */
interface ClaimLimit {
  readonly rank: number;
  readonly limit: RouteRateLimit | false;
}

/**
 * `throttle.userBy`, resolved once at boot: the per-user limit a verified token's claim picks. Each value's limit counts
 * on a counter of its own per user (`counter`, from the value): two values never share a window. Sharing one would let
 * a token of one plan spend, or restart, another's (a hit under a lower limit restarts a fixed window whose count is
 * over it; a window of another length resets a sliding one). Per request: one claim read and one `Map` lookup (one per
 * entry of an array claim), no allocation.
 */
export class UserLimitsByClaim {
  private readonly byValue = new Map<string, ClaimLimit>();
  private readonly claim: string;

  constructor(options: UserLimitsByClaimOptions, algorithm: RateLimitAlgorithm) {
    this.claim = options.claim;
    Object.entries(options.limits).forEach(([value, limit], rank) => {
      this.byValue.set(value, {
        rank,
        limit:
          limit === false
            ? false
            : { space: 'user', limit: limit.limit, ttlMs: limit.ttlMs, blockDurationMs: limit.blockDurationMs ?? limit.ttlMs, algorithm, insured: limit.insurance !== false, counter: userCounterOf('claim', value) },
      });
    });
  }

  /** The limit the claim of `claims` picks; `fallback` (the route's) when it picks none. */
  limitOf(claims: Readonly<Record<string, unknown>>, fallback: RouteRateLimit | false): RouteRateLimit | false {
    const value = claimAt(claims, this.claim);
    if (typeof value === 'string') return this.byValue.get(value)?.limit ?? fallback;
    if (!Array.isArray(value)) return fallback;
    let best: ClaimLimit | undefined;
    for (const item of value) {
      const found = typeof item === 'string' ? this.byValue.get(item) : undefined;
      if (found !== undefined && (best === undefined || found.rank < best.rank)) best = found;
    }
    return best === undefined ? fallback : best.limit;
  }
}

/**
 * The name of a per-user counter of its own, a claim value's or a route's: short, of a fixed alphabet ([A-Za-z0-9_-])
 * whatever the value (a URL, a client id), from a hash of both (a claim value spelled as a route's name never shares).
 */
export function userCounterOf(kind: 'claim' | 'route', value: string): string {
  return createHash('sha256').update(`${kind}\u0000${value}`, 'utf8').digest('base64url').slice(0, 12);
}

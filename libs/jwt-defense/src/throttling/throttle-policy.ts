import type { RateLimit } from './rate-limit.js';

/** A limit on a field of the request body, e.g. `{ field: 'username' }` on a login route (credential stuffing). */
export interface BodyFieldRateLimit extends Omit<RateLimit, 'algorithm'> {
  /** Top-level body member whose value (lower-cased, at most 128 characters) is the key. */
  field: string;
}

/** Rate limits of a route. `false` for one of them turns it off there. */
export interface ThrottlePolicy {
  /** Per client IP, before authentication. A route with its own `ip` limit gets its own counter. */
  ip?: Omit<RateLimit, 'algorithm'> | false;
  /** Per authenticated user (`sub`), counted inside the per-request defence check (no extra round trip). */
  user?: Omit<RateLimit, 'algorithm'> | false;
  /** Per value of a body field. */
  body?: BodyFieldRateLimit;
}

/** Layer 2 options. */
export interface ThrottleOptions {
  /** Default limit per client IP, on every route, one budget across routes. Default 100 per 60000 ms; `false`: none. */
  ip?: Omit<RateLimit, 'algorithm'> | false;
  /** Default limit per authenticated user, on every route. Default 100 per 60000 ms; `false`: none. */
  user?: Omit<RateLimit, 'algorithm'> | false;
  /** Counting algorithm of every limit. Default `fixed`; `sliding` has no boundary burst at the same cost. */
  algorithm?: RateLimit['algorithm'];
  /** Named policies for `@DefensePolicy({ throttle: 'name' })`, e.g. `login`. Default none. */
  profiles?: Record<string, ThrottlePolicy>;
  /**
   * Proxies (IPs or CIDRs) whose `X-Forwarded-For` / `Forwarded` is believed, walking the chain from the
   * right. Default none: the client is the socket address, and those headers are ignored.
   */
  trustProxy?: string[];
  /** IPv6 clients are grouped by this prefix length (one /64 is one subscriber). Default 64. */
  ipv6SubnetPrefix?: number;
  /** When the store is down: `open` lets requests through (and records an event), `closed` answers 503. Default `open`. */
  failMode?: 'open' | 'closed';
}

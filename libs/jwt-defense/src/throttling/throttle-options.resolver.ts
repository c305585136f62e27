import proxyAddr from 'proxy-addr';
import type { RateLimitAlgorithm } from './rate-limit.js';
import type { ThrottleOptions, ThrottlePolicy } from './throttle-policy.js';

/** A limit with every field set. */
export interface ResolvedRateLimit {
  limit: number;
  ttlMs: number;
  blockDurationMs: number;
}

export interface ResolvedThrottlePolicy {
  ip?: ResolvedRateLimit | false;
  user?: ResolvedRateLimit | false;
  body?: ResolvedRateLimit & { field: string };
}

export interface ResolvedThrottleOptions {
  ip: ResolvedRateLimit | false;
  user: ResolvedRateLimit | false;
  algorithm: RateLimitAlgorithm;
  profiles: Record<string, ResolvedThrottlePolicy>;
  trustProxy: string[];
  ipv6SubnetPrefix: number;
  failMode: 'open' | 'closed';
}

const DEFAULT_LIMIT = { limit: 100, ttlMs: 60_000 };

function bad(path: string, fix: string): never {
  throw new TypeError(`jwt-defense: invalid options: ${path} ${fix}`);
}

function positiveInt(value: unknown, path: string): number {
  if (!Number.isInteger(value) || (value as number) < 1) bad(path, 'must be a positive integer');
  return value as number;
}

function rateLimit(raw: unknown, path: string): ResolvedRateLimit | false {
  if (raw === false) return false;
  if (raw === null || typeof raw !== 'object') bad(path, 'must be { limit, ttlMs, blockDurationMs? } or false');
  const { limit, ttlMs, blockDurationMs } = raw as Record<string, unknown>;
  return {
    limit: positiveInt(limit, `${path}.limit`),
    ttlMs: positiveInt(ttlMs, `${path}.ttlMs`),
    blockDurationMs: blockDurationMs === undefined ? (ttlMs as number) : positiveInt(blockDurationMs, `${path}.blockDurationMs`),
  };
}

/** Validates a route's throttle policy (from options profiles or an inline `@DefensePolicy`). */
export function resolveThrottlePolicy(raw: ThrottlePolicy, path: string): ResolvedThrottlePolicy {
  if (raw === null || typeof raw !== 'object') bad(path, 'must be an object');
  const policy: ResolvedThrottlePolicy = {};
  if (raw.ip !== undefined) policy.ip = rateLimit(raw.ip, `${path}.ip`);
  if (raw.user !== undefined) policy.user = rateLimit(raw.user, `${path}.user`);
  if (raw.body !== undefined) {
    const body = rateLimit(raw.body, `${path}.body`);
    if (body === false || typeof raw.body.field !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(raw.body.field)) {
      bad(`${path}.body.field`, 'must name a top-level body member ([A-Za-z0-9_-]{1,64})');
    }
    policy.body = { ...body, field: raw.body.field };
  }
  return policy;
}

export function resolveThrottleOptions(raw: ThrottleOptions | undefined): ResolvedThrottleOptions {
  const options = raw ?? {};
  if (typeof options !== 'object' || options === null) bad('throttle', 'must be an object');
  const algorithm = options.algorithm ?? 'fixed';
  if (algorithm !== 'fixed' && algorithm !== 'sliding') bad('throttle.algorithm', "must be 'fixed' or 'sliding'");
  const trustProxy = options.trustProxy ?? [];
  if (!Array.isArray(trustProxy)) bad('throttle.trustProxy', 'must be a list of IPs or CIDRs');
  try {
    proxyAddr.compile(trustProxy);
  } catch {
    bad('throttle.trustProxy', 'must be a list of IPs or CIDRs (e.g. ["10.0.0.0/8"]); one entry is not');
  }
  const ipv6SubnetPrefix = options.ipv6SubnetPrefix ?? 64;
  if (!Number.isInteger(ipv6SubnetPrefix) || ipv6SubnetPrefix < 1 || ipv6SubnetPrefix > 128) bad('throttle.ipv6SubnetPrefix', 'must be 1-128');
  const failMode = options.failMode ?? 'open';
  if (failMode !== 'open' && failMode !== 'closed') bad('throttle.failMode', "must be 'open' or 'closed'");
  const profiles: Record<string, ResolvedThrottlePolicy> = {};
  for (const [name, policy] of Object.entries(options.profiles ?? {})) profiles[name] = resolveThrottlePolicy(policy, `throttle.profiles.${name}`);
  return {
    ip: rateLimit(options.ip ?? DEFAULT_LIMIT, 'throttle.ip'),
    user: rateLimit(options.user ?? DEFAULT_LIMIT, 'throttle.user'),
    algorithm,
    profiles,
    trustProxy: [...trustProxy],
    ipv6SubnetPrefix,
    failMode,
  };
}

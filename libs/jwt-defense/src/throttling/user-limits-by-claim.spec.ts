import { resolveOptions } from '../common/options.js';
import type { RouteRateLimit } from '../policy/policy.resolver.js';
import { ThrottleOptions } from './throttle.options.js';
import { UserLimitsByClaim } from './user-limits-by-claim.js';

const throttle = (userBy: unknown) => resolveOptions(ThrottleOptions, { userBy }, 'throttle');
const FALLBACK: RouteRateLimit = { space: 'user', limit: 100, ttlMs: 60_000, blockDurationMs: 60_000, algorithm: 'fixed', insured: true };

describe('throttle.userBy', () => {
  const options = throttle({
    claim: 'plan',
    limits: { pro: { limit: 10_000, ttlMs: 60_000 }, free: { limit: 10, ttlMs: 3_600_000, blockDurationMs: 0 }, internal: false, 'https://example.com/plans/gold': { limit: 50, ttlMs: 1000 } },
  });
  const byClaim = new UserLimitsByClaim(options.userBy!, 'sliding');
  const limitOf = (claims: Record<string, unknown>) => byClaim.limitOf(claims, FALLBACK);

  it("a listed string value gets its limit (block defaulting to its window, the module's algorithm), on a counter of its own", () => {
    expect(limitOf({ plan: 'free' })).toEqual({ space: 'user', limit: 10, ttlMs: 3_600_000, blockDurationMs: 0, algorithm: 'sliding', insured: true, counter: expect.stringMatching(/^[A-Za-z0-9_-]{12}$/) });
    expect(limitOf({ plan: 'pro' })).toMatchObject({ limit: 10_000, ttlMs: 60_000, blockDurationMs: 60_000 });
    expect(limitOf({ plan: 'https://example.com/plans/gold' })).toMatchObject({ limit: 50 });
    const counters = ['pro', 'free', 'https://example.com/plans/gold'].map((plan) => (limitOf({ plan }) as RouteRateLimit).counter);
    expect(new Set(counters).size).toBe(3);
  });

  it('a value mapped to false: no per-user limit', () => {
    expect(limitOf({ plan: 'internal' })).toBe(false);
  });

  it.each<[string, Record<string, unknown>]>([
    ['no such claim', {}],
    ['a value not listed', { plan: 'enterprise' }],
    ['a value that differs in case only', { plan: 'PRO' }],
    ['a number', { plan: 1 }],
    ['an object', { plan: { name: 'pro' } }],
    ['an array without a listed value', { plan: ['gold', 2, null] }],
    ["a name of Object.prototype (a Map, not an object's members)", { plan: 'constructor' }],
  ])('%s gets the route default', (_name, claims) => {
    expect(limitOf(claims)).toBe(FALLBACK);
    expect(byClaim.limitOf(claims, false)).toBe(false);
  });

  it('an array claim gets the first entry of limits, in the order written, that it contains', () => {
    expect(limitOf({ plan: ['read:orders', 'free', 'pro'] })).toMatchObject({ limit: 10_000 });
    expect(limitOf({ plan: ['free', 42, 'internal'] })).toMatchObject({ limit: 10 });
    expect(limitOf({ plan: ['internal', 'pro'] })).toMatchObject({ limit: 10_000 });
  });

  it('reads the claim by its exact name first, then as a dot path (as roles are read)', () => {
    const nested = new UserLimitsByClaim(throttle({ claim: 'app_metadata.plan', limits: { pro: { limit: 7, ttlMs: 1000 } } }).userBy!, 'fixed');
    expect(nested.limitOf({ app_metadata: { plan: 'pro' } }, FALLBACK)).toMatchObject({ limit: 7 });
    expect(nested.limitOf({ 'app_metadata.plan': 'pro', app_metadata: { plan: 'x' } }, FALLBACK)).toMatchObject({ limit: 7 });
    expect(nested.limitOf({ app_metadata: 'pro' }, FALLBACK)).toBe(FALLBACK);
  });

  it.each<[string, unknown, RegExp]>([
    ['no claim', { limits: { pro: { limit: 1, ttlMs: 1000 } } }, /throttle\.userBy\.claim must be a string/],
    ['an empty claim', { claim: '', limits: { pro: { limit: 1, ttlMs: 1000 } } }, /throttle\.userBy\.claim must be longer than or equal to 1 characters/],
    ['no limits', { claim: 'plan' }, /throttle\.userBy\.limits must map at least one claim value/],
    ['empty limits', { claim: 'plan', limits: {} }, /throttle\.userBy\.limits must map at least one claim value/],
    ['limits as a list', { claim: 'plan', limits: [{ limit: 1, ttlMs: 1000 }] }, /throttle\.userBy\.limits must be an object of named entries/],
    ['true for a value', { claim: 'plan', limits: { pro: true } }, /throttle\.userBy\.limits\.pro must be an object/],
    ['a limit out of range', { claim: 'plan', limits: { free: { limit: 0, ttlMs: 1000 } } }, /throttle\.userBy\.limits\.free\.limit must not be less than 1/],
    ['a limit without its window', { claim: 'plan', limits: { free: { limit: 5 } } }, /throttle\.userBy\.limits\.free\.ttlMs must be an integer/],
    ['a misspelt member', { claim: 'plan', limits: { free: { limit: 5, ttl: 1000 } } }, /throttle\.userBy\.limits\.free\.ttl is not an option: did you mean "ttlMs"\?/],
    ['a misspelt option', { claims: 'plan', limits: { free: false } }, /throttle\.userBy\.claims is not an option: did you mean "claim"\?/],
  ])('%s is refused at boot, naming the option path', (_name, userBy, message) => {
    expect(() => throttle(userBy)).toThrow(TypeError);
    expect(() => throttle(userBy)).toThrow(message);
  });
});

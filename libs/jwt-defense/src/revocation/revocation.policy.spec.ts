import fc from 'fast-check';
import { resolveJwtDefenseOptions, type JwtDefenseModuleOptions } from '../jwt-defense.options.js';
import { validateAccessTokenClaims } from '../token/access-token-claims.js';
import { newJti } from '../token/token-ids.js';
import type { RevocationFacts } from './revocation.check-part.js';
import {
  globalVerdict,
  incidentEvents,
  LARGEST_REVOCATION_LIMITS,
  RevocationPolicy,
  revocationLimitsOf,
  storeVerdict,
  type RevocationLimits,
} from './revocation.policy.js';

const OWN = 'https://api.example.com';
const EXTERNAL = 'https://idp.example.com';
const T0 = Date.UTC(2026, 10, 24, 12, 0, 0);

/** Every limit anywhere in the range the options resolver accepts (an app without external issuers included). */
const limits: fc.Arbitrary<RevocationLimits> = fc
  .record({
    accessTokenTtlSec: fc.integer({ min: 1, max: 900 }),
    clockToleranceSec: fc.integer({ min: 0, max: 300 }),
    external: fc.option(fc.record({ ttlSec: fc.integer({ min: 60, max: 86_400 }), toleranceSec: fc.integer({ min: 0, max: 300 }) }), { nil: undefined }),
    refreshTokenTtlSec: fc.integer({ min: 60, max: 7_776_000 }),
    graceSec: fc.integer({ min: 0, max: 86_400 }),
    globalStateRefreshMs: fc.integer({ min: 100, max: 3_600_000 }),
  })
  .map(({ external, ...rest }) => ({ ...rest, externalTokenTtlSec: external?.ttlSec ?? 0, externalClockToleranceSec: external?.toleranceSec ?? 0 }));

/** The verifier's own rules for a token of `issuer` at `atMs`: the oracle of every property below. */
function rulesAt(limit: RevocationLimits, external: boolean, atMs: number) {
  return {
    issuer: external ? EXTERNAL : OWN,
    audiences: ['api'],
    nowSec: Math.floor(atMs / 1000),
    clockToleranceSec: external ? limit.externalClockToleranceSec : limit.clockToleranceSec,
    maxLifetimeSec: external ? limit.externalTokenTtlSec : limit.accessTokenTtlSec,
    requireJti: false,
  };
}

/** What verification answers for the token at `atMs`: `accepted`, or the code of its refusal. */
function verdictAt(limit: RevocationLimits, token: { iat: number; exp: number; jti?: string }, external: boolean, atMs: number): string {
  try {
    validateAccessTokenClaims({ iss: external ? EXTERNAL : OWN, sub: 'alice', aud: 'api', ...token }, 'k', rulesAt(limit, external, atMs));
    return 'accepted';
  } catch (error) {
    return (error as { code: string }).code;
  }
}

/** A token its issuer could have issued (exp - iat within its limit, whole or fractional seconds). */
const tokenOf = (limit: RevocationLimits, external: boolean, iatSec: fc.Arbitrary<number>) =>
  fc.record({ iat: iatSec, lifeSec: fc.integer({ min: 1, max: external ? limit.externalTokenTtlSec : limit.accessTokenTtlSec }), fraction: fc.constantFrom(0, 0.25, 0.999) })
    .map(({ iat, lifeSec, fraction }) => ({ iat, exp: iat + lifeSec - (lifeSec > 1 ? fraction : 0) }));

interface Setting {
  limit: RevocationLimits;
  external: boolean;
  nowMs: number;
}

/** Limits, whether the token is an external issuer's (only when the limits have one), and a revocation instant. */
const setting: fc.Arbitrary<Setting> = limits.chain((limit) =>
  fc.record({ limit: fc.constant(limit), external: limit.externalTokenTtlSec > 0 ? fc.boolean() : fc.constant(false), nowMs: fc.integer({ min: T0, max: T0 + 86_400_000 }) }),
);

/** A setting and a token made for it. */
const withToken = <T>(settings: fc.Arbitrary<Setting>, token: (s: Setting) => fc.Arbitrary<T>) => settings.chain((s) => fc.tuple(fc.constant(s), token(s)));

/** A token issued at or before the setting's instant (of its kind, or of this module when `external` is false). */
const issuedBefore = ({ limit, nowMs, ...s }: Setting, external = s.external) => {
  const nowSec = Math.floor(nowMs / 1000);
  return tokenOf(limit, external, fc.integer({ min: nowSec - (external ? limit.externalTokenTtlSec : limit.accessTokenTtlSec), max: nowSec }));
};

/** Limits, an instant `atMs`, the lifetime of an own token (`lifeSec`), and what `more` draws from the limits. */
const ownCase = <T extends Record<string, fc.Arbitrary<unknown>>>(more: (limit: RevocationLimits) => T) =>
  limits.chain((limit) =>
    fc.record({ limit: fc.constant(limit), atMs: fc.integer({ min: T0, max: T0 + 86_400_000 }), lifeSec: fc.integer({ min: 1, max: limit.accessTokenTtlSec }) }).chain((base) =>
      fc.record(more(limit)).map((drawn) => ({ ...base, ...(drawn as { [K in keyof T]: T[K] extends fc.Arbitrary<infer V> ? V : never }) })),
    ),
  );

/** A token valid at `nowMs` (verification accepts it now), of the given kind. */
const validNow = ({ limit, external, nowMs }: Setting) => {
  const nowSec = Math.floor(nowMs / 1000);
  const toleranceSec = external ? limit.externalClockToleranceSec : limit.clockToleranceSec;
  const lifeSec = external ? limit.externalTokenTtlSec : limit.accessTokenTtlSec;
  return tokenOf(limit, external, fc.integer({ min: nowSec - lifeSec - toleranceSec, max: nowSec + toleranceSec })).filter((token) => verdictAt(limit, token, external, nowMs) === 'accepted');
};

describe('RevocationPolicy: every TTL outlives what it covers (the verifier is the judge)', () => {
  it('a denylist entry with the token\'s exp outlives the token (2000 runs)', () => {
    fc.assert(
      fc.property(withToken(setting, validNow), ([{ limit, external, nowMs }, token]) => {
        const ttlMs = new RevocationPolicy(limit).denylistTtlMs({ jti: 'foreign-jti', external, expiresAtMs: token.exp * 1000 }, nowMs);
        // The entry is gone at nowMs + ttlMs: the token must be refused as expired from then on.
        expect(verdictAt(limit, token, external, nowMs + ttlMs)).toBe('token_expired');
        expect(ttlMs).toBeGreaterThanOrEqual(limit.graceSec * 1000);
      }),
      { numRuns: 2000 },
    );
  });

  it('without exp, a denylist entry outlives any token valid now that the jti could name (2000 runs)', () => {
    fc.assert(
      fc.property(withToken(setting, validNow), ([{ limit, external, nowMs }, token]) => {
        const ttlMs = new RevocationPolicy(limit).denylistTtlMs({ jti: 'foreign-jti', external }, nowMs);
        expect(verdictAt(limit, token, external, nowMs + ttlMs)).toBe('token_expired');
        // And no longer than that bound needs: the longest life, twice the tolerance (iat may run ahead), the grace.
        const toleranceSec = external ? limit.externalClockToleranceSec : limit.clockToleranceSec;
        const lifeSec = external ? limit.externalTokenTtlSec : limit.accessTokenTtlSec;
        expect(ttlMs).toBeLessThanOrEqual((lifeSec + toleranceSec + Math.max(limit.graceSec, toleranceSec)) * 1000 + 1000);
      }),
      { numRuns: 2000 },
    );
  });

  it('without exp, one of our jtis is believed: its entry outlives the token it names, issued by any instance (2000 runs)', () => {
    // Issued by an instance whose clock may run up to the tolerance ahead, and still valid or long gone.
    const own = ownCase((limit) => ({ issuedAgoMs: fc.integer({ min: -limit.clockToleranceSec * 1000, max: (limit.accessTokenTtlSec + limit.clockToleranceSec + 5) * 1000 }) }));
    fc.assert(
      fc.property(own, ({ limit, atMs: nowMs, issuedAgoMs, lifeSec }) => {
        const issuedAtMs = nowMs - issuedAgoMs;
        const iat = Math.floor(issuedAtMs / 1000);
        const token = { iat, exp: iat + lifeSec, jti: newJti('alice', issuedAtMs) };
        const policy = new RevocationPolicy(limit);
        const ttlMs = policy.denylistTtlMs({ jti: token.jti, external: false }, nowMs);
        expect(verdictAt(limit, token, false, nowMs + ttlMs)).toBe('token_expired');
        // The time in our jti is what keeps it short: never longer than for a jti that is not ours.
        expect(ttlMs).toBeLessThanOrEqual(policy.denylistTtlMs({ jti: 'foreign-jti', external: false }, nowMs));
      }),
      { numRuns: 2000 },
    );
  });

  it('a user epoch outlives every token issued before it, and every session it stops from refreshing (2000 runs)', () => {
    fc.assert(
      fc.property(
        withToken(setting, (s) => fc.tuple(issuedBefore(s), fc.integer({ min: 0, max: s.limit.refreshTokenTtlSec * 1000 }))),
        ([{ limit, external, nowMs }, [token, sessionAgeMs]]) => {
          const ttlMs = new RevocationPolicy(limit).userEpochTtlMs;
          expect(verdictAt(limit, token, external, nowMs + ttlMs)).toBe('token_expired');
          // A session created at or before the epoch cannot refresh while it lives, and has ended once it is gone.
          const sessionEndsAtMs = nowMs - sessionAgeMs + limit.refreshTokenTtlSec * 1000;
          expect(sessionEndsAtMs).toBeLessThanOrEqual(nowMs + ttlMs);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('a step-up epoch outlives every token minted from a session started before it, to the session\'s end (2000 runs)', () => {
    // The session started before the step-up; a refresh can mint until its last millisecond (auth_time stays old).
    const minted = ownCase((limit) => ({
      sessionAgeMs: fc.integer({ min: 0, max: limit.refreshTokenTtlSec * 1000 }),
      mintedAfterStartMs: fc.integer({ min: 0, max: limit.refreshTokenTtlSec * 1000 - 1 }),
    }));
    fc.assert(
      fc.property(minted, ({ limit, atMs: nowMs, sessionAgeMs, mintedAfterStartMs, lifeSec }) => {
        const iat = Math.floor((nowMs - sessionAgeMs + mintedAfterStartMs) / 1000);
        const ttlMs = new RevocationPolicy(limit).stepUpEpochTtlMs;
        expect(verdictAt(limit, { iat, exp: iat + lifeSec }, false, nowMs + ttlMs)).toBe('token_expired');
      }),
      { numRuns: 2000 },
    );
  });

  it('a step-up epoch outlives an external token issued before it', () => {
    fc.assert(
      fc.property(
        withToken(setting.filter((s) => s.external), (s) => issuedBefore(s)),
        ([{ limit, nowMs }, token]) => {
          expect(verdictAt(limit, token, true, nowMs + new RevocationPolicy(limit).stepUpEpochTtlMs)).toBe('token_expired');
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a revoked session is kept until every access token it minted (up to its revocation) has expired (2000 runs)', () => {
    fc.assert(
      fc.property(
        withToken(setting, (s) => issuedBefore(s, false)),
        ([{ limit, nowMs }, token]) => {
          expect(verdictAt(limit, token, false, nowMs + new RevocationPolicy(limit).revokedSessionRetainMs)).toBe('token_expired');
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('a rotated key is retired only once no token it signed, on any instance, can be valid (2000 runs)', () => {
    // Another instance keeps signing with it until its next refresh of the global state.
    const signed = ownCase((limit) => ({ signedAfterStopMs: fc.integer({ min: -limit.accessTokenTtlSec * 1000, max: limit.globalStateRefreshMs }) }));
    fc.assert(
      fc.property(signed, ({ limit, atMs: stoppedMs, signedAfterStopMs, lifeSec }) => {
        const iat = Math.floor((stoppedMs + signedAfterStopMs) / 1000);
        const retireAtMs = stoppedMs + new RevocationPolicy(limit).rotatedKeyRetireAfterMs;
        expect(verdictAt(limit, { iat, exp: iat + lifeSec }, false, retireAtMs)).toBe('token_expired');
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps the defaults\' TTLs: the epoch 7 days + 30 s + 15 min, a revoked session 5 + 0.5 + 15 min, a denylisted exp + 15 min', () => {
    const policy = new RevocationPolicy(revocationLimitsOf(resolveJwtDefenseOptions({ token: { issuer: OWN, audience: 'api', keys: [{ kid: 'k', algorithms: ['HS256'], secret: 'x'.repeat(32) }] } })));
    expect(policy.userEpochTtlMs).toBe((604_800 + 30 + 900) * 1000);
    expect(policy.revokedSessionRetainMs).toBe((900 + 30 + 900) * 1000);
    expect(policy.denylistTtlMs({ jti: 'j', external: false, expiresAtMs: T0 + 60_000 }, T0)).toBe(60_000 + 900_000);
  });
});

describe('LARGEST_REVOCATION_LIMITS (what the CLI sizes its entries by)', () => {
  const largest = () => ({
    token: { issuer: OWN, audience: 'api', keys: [{ kid: 'k', algorithms: ['HS256'], secret: 'x'.repeat(32) }], maxAccessTokenTtlSec: 900, accessTokenTtlSec: 900, clockToleranceSec: 300 },
    issuers: [{ issuer: EXTERNAL, audience: 'api', maxTokenTtlSec: 86_400, clockToleranceSec: 300 }],
    session: { refreshTokenTtlSec: 7_776_000 },
    revocation: { graceSec: 86_400, globalStateRefreshMs: 3_600_000 },
  });

  it('are the limits of the largest options the resolver accepts', () => {
    expect(revocationLimitsOf(resolveJwtDefenseOptions(largest() as JwtDefenseModuleOptions))).toEqual(LARGEST_REVOCATION_LIMITS);
  });

  it.each<[string, (o: ReturnType<typeof largest>) => void]>([
    ['token.maxAccessTokenTtlSec', (o) => (o.token.maxAccessTokenTtlSec = 901)],
    ['token.clockToleranceSec', (o) => (o.token.clockToleranceSec = 301)],
    ['issuers[0].maxTokenTtlSec', (o) => (o.issuers[0].maxTokenTtlSec = 86_401)],
    ['issuers[0].clockToleranceSec', (o) => (o.issuers[0].clockToleranceSec = 301)],
    ['session.refreshTokenTtlSec', (o) => (o.session.refreshTokenTtlSec = 7_776_001)],
    ['revocation.graceSec', (o) => (o.revocation.graceSec = 86_401)],
    ['revocation.globalStateRefreshMs', (o) => (o.revocation.globalStateRefreshMs = 3_600_001)],
  ])('a larger %s is refused at boot', (name, grow) => {
    const options = largest();
    grow(options);
    expect(() => resolveJwtDefenseOptions(options as JwtDefenseModuleOptions)).toThrow(TypeError);
    // Named by its path (the message then says the fix).
    expect(() => resolveJwtDefenseOptions(options as JwtDefenseModuleOptions)).toThrow(name);
  });
});

describe('the verdicts', () => {
  const clean: RevocationFacts = { jtiRevoked: false, sessionRevoked: false, userNotBeforeMs: 5000 };

  it('globalVerdict: a retired kid, then a token authenticated at or before the global epoch', () => {
    const state = { notBeforeMs: 5000, retiredKids: { old: 1 } };
    expect(globalVerdict(state, 'old', 9999)).toBe('key');
    expect(globalVerdict(state, 'new', 5000)).toBe('global');
    expect(globalVerdict(state, 'new', 5001)).toBeUndefined();
  });

  it('storeVerdict: the jti, then the session, then the user epoch (at or before it); none without a time', () => {
    expect(storeVerdict({ ...clean, jtiRevoked: true, sessionRevoked: true }, 9999)).toBe('jti');
    expect(storeVerdict({ ...clean, sessionRevoked: true }, 9999)).toBe('session');
    expect(storeVerdict(clean, 5000)).toBe('user');
    expect(storeVerdict(clean, 5001)).toBeUndefined();
    expect(storeVerdict(clean, undefined)).toBeUndefined();
  });
});

describe('incidentEvents', () => {
  it('name the actor, and the issuer only for an external user', () => {
    expect(incidentEvents.userRevoked('bob', 'phished', { actor: 'ana' })).toEqual(['user_revoked', { sub: 'bob', reason: 'phished', details: { actor: 'ana' } }]);
    expect(incidentEvents.userRevoked('bob', 'phished', { iss: EXTERNAL })).toEqual(['user_revoked', { sub: 'bob', reason: 'phished', details: { iss: EXTERNAL } }]);
    expect(incidentEvents.globalRevoked(T0, 'leak', 'ana')).toEqual(['global_revoked', { reason: 'leak', details: { notBefore: new Date(T0).toISOString(), actor: 'ana' } }]);
  });
});

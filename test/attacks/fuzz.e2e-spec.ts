import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { DEFENSE_ERROR_CODES } from '../../libs/jwt-defense/src/errors/defense-error-code.js';
import { ADAPTERS } from '../support/demo-app.js';
import { expectNoEcho, expectSecurityHeaders } from './support/answers.js';
import { AttackTarget, useAttackEnvironment } from './support/attack-target.js';
import { b64url, ecKey, publicJwk, signJws } from './support/forge.js';
import { describeChanges } from './support/state-snapshot.js';

// Property tests: random mutations of a valid access token and of a valid DPoP proof are never accepted (never a
// 2xx) and never a 5xx, on both adapters; every refusal has a code of the closed set and the security headers, and
// the whole run changes no defence state (the snapshot of corpus.e2e-spec.ts, taken around each property).

const CODES = new Set<string>(DEFENSE_ERROR_CODES);
const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

type Mutation =
  | { kind: 'bit flip'; segment: number; at: number; bit: number }
  | { kind: 'segment swap'; order: readonly number[] }
  | { kind: 'character change'; at: number; char: string }
  | { kind: 'member edit'; part: 'header' | 'payload'; name: string; value: unknown; drop: boolean; resign: 'attacker key' | 'hmac' | 'none' }
  | { kind: 'truncation'; at: number };

const MEMBER_NAMES = ['alg', 'typ', 'kid', 'jwk', 'jku', 'crit', 'iss', 'aud', 'sub', 'exp', 'iat', 'nbf', 'jti', 'roles', 'scope', 'cnf', 'sid', 'auth_time', 'htm', 'htu', 'ath', 'nonce'];

const mutations: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('bit flip' as const), segment: fc.integer({ min: 0, max: 2 }), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('segment swap' as const), order: fc.constantFrom([1, 0, 2], [0, 2, 1], [2, 1, 0], [1, 2, 0], [2, 0, 1], [0, 0, 2], [1, 1, 2], [0, 1, 1], [0, 1], [0, 1, 2, 2], [0, 1, 2, 0, 1]) }),
  fc.record({ kind: fc.constant('character change' as const), at: fc.nat(), char: fc.constantFrom(...BASE64URL, '.', '=', '+', '/', '~', '%') }),
  fc.record({
    kind: fc.constant('member edit' as const),
    part: fc.constantFrom('header' as const, 'payload' as const),
    name: fc.oneof(fc.constantFrom(...MEMBER_NAMES), fc.string({ maxLength: 8 })),
    value: fc.jsonValue({ maxDepth: 2 }),
    drop: fc.boolean(),
    resign: fc.constantFrom('attacker key' as const, 'hmac' as const, 'none' as const),
  }),
  fc.record({ kind: fc.constant('truncation' as const), at: fc.nat() }),
);

function mutate(token: string, mutation: Mutation): string {
  const parts = token.split('.');
  switch (mutation.kind) {
    case 'bit flip': {
      const bytes = Buffer.from(parts[mutation.segment], 'base64url');
      const at = mutation.at % bytes.length;
      bytes[at] ^= 1 << mutation.bit;
      parts[mutation.segment] = bytes.toString('base64url');
      return parts.join('.');
    }
    case 'segment swap':
      return mutation.order.map((index) => parts[index]).join('.');
    case 'character change': {
      const at = mutation.at % token.length;
      const char = token[at] === mutation.char ? BASE64URL[(BASE64URL.indexOf(mutation.char) + 1) % BASE64URL.length] : mutation.char;
      return token.slice(0, at) + char + token.slice(at + 1);
    }
    case 'member edit': {
      const index = mutation.part === 'header' ? 0 : 1;
      const json = JSON.parse(Buffer.from(parts[index], 'base64url').toString()) as Record<string, unknown>;
      if (mutation.drop) delete json[mutation.name];
      else json[mutation.name] = mutation.value;
      const header = index === 0 ? json : JSON.parse(Buffer.from(parts[0], 'base64url').toString());
      const payload = index === 1 ? json : JSON.parse(Buffer.from(parts[1], 'base64url').toString());
      // Re-signed, but never with the right key: with an attacker's key, an HMAC of a guessable secret, or not at all.
      if (mutation.resign === 'attacker key') return signJws(header, payload, ecKey(), 'ES256');
      if (mutation.resign === 'hmac') {
        const input = `${b64url(header)}.${b64url(payload)}`;
        return `${input}.${createHmac('sha256', 'secret').update(input).digest('base64url')}`;
      }
      return `${b64url(header)}.${b64url(payload)}.`;
    }
    case 'truncation':
      return token.slice(0, mutation.at % token.length);
  }
}

/** Header values Node can send: the mutated text without control characters, never empty. */
const sendable = (value: string) => value.replace(/[^\x20-\x7e]/g, '');

function expectRefused(res: { status: number; body: { code?: unknown } } & Parameters<typeof expectSecurityHeaders>[0], secret: string): void {
  expect(res.status).toBeGreaterThanOrEqual(400);
  expect(res.status).toBeLessThan(500);
  expect(CODES.has(res.body.code as string)).toBe(true);
  expectSecurityHeaders(res);
  expectNoEcho(res, secret);
}

const env = useAttackEnvironment();

describe.each(ADAPTERS)('fuzzing valid tokens and proofs over %s', (adapter) => {
  let t: AttackTarget;
  beforeAll(async () => {
    t = await AttackTarget.start(adapter, 'ES256', env, 'fuzz');
  }, 30_000);
  afterAll(() => t?.close());

  /** Runs a property between two snapshots, then checks that nothing changed and valid tokens still work. */
  async function stateless(property: () => Promise<void>): Promise<void> {
    const before = await t.snapshot();
    await property();
    expect(describeChanges(before, await t.snapshot())).toEqual([]);
    expect((await t.validBearer()).status).toBe(200);
    expect((await t.validDpop()).status).toBe(200);
    expect(env.tripwire.contacted).toBe(0);
  }

  it('a mutated access token (bit flips, segment swaps, character changes, members re-signed with a wrong key, truncations) is never accepted, never a 5xx', async () => {
    await stateless(() =>
      fc.assert(
        fc.asyncProperty(fc.constantFrom('alice' as const, 'forged' as const), mutations, async (base, mutation) => {
          const original = base === 'alice' ? t.alice.access : signJws(t.header(), t.claims(), t.privateKey, 'ES256');
          const token = sendable(mutate(original, mutation));
          fc.pre(token !== original && token.length > 0);
          const res = await t.attacker('get', '/me').set('Authorization', `Bearer ${token}`);
          expectRefused(res, token);
        }),
        { numRuns: 250 },
      ),
    );
  }, 60_000);

  it('a mutated DPoP proof for the bound token is never accepted, never a 5xx', async () => {
    await stateless(() =>
      fc.assert(
        fc.asyncProperty(mutations, fc.boolean(), async (mutation, attackerJwk) => {
          let original = t.proof(t.bound.access);
          if (attackerJwk && mutation.kind === 'member edit') {
            // The member edit re-signed by an attacker key that the proof's jwk now names: a consistent proof, by the
            // wrong key for cnf.jkt.
            const key = ecKey();
            const [h, p] = original.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()));
            const { kty, crv, x, y } = publicJwk(key);
            original = signJws({ ...h, jwk: { kty, crv, x, y } }, p, key, 'ES256');
          }
          const proof = sendable(mutate(original, mutation));
          fc.pre(proof !== original);
          const res = await t.attacker('get', '/me').set('Authorization', `DPoP ${t.bound.access}`).set('DPoP', proof);
          expectRefused(res, proof);
          expect(res.body.code).toBe('invalid_dpop_proof');
        }),
        { numRuns: 200 },
      ),
    );
  }, 60_000);

  it('a mutated bound token with a fresh, matching proof by the right key (ath of the mutant) is never accepted, never a 5xx', async () => {
    await stateless(() =>
      fc.assert(
        fc.asyncProperty(mutations, async (mutation) => {
          const token = sendable(mutate(t.bound.access, mutation));
          fc.pre(token !== t.bound.access && token.length > 0);
          const proof = t.proof(token);
          const res = await t.attacker('get', '/me').set('Authorization', `DPoP ${token}`).set('DPoP', proof);
          expectRefused(res, token);
        }),
        { numRuns: 150 },
      ),
    );
  }, 60_000);
});

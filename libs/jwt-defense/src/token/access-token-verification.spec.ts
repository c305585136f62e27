import { createHmac, createSecretKey, generateKeyPairSync, randomBytes, sign as cryptoSign, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { CompactSign } from 'jose';
import { DefenseClock } from '../common/defense-clock.js';
import { KID_PATTERN } from '../jwt-defense.constants.js';
import type { DefenseMetricsSink } from '../pipeline/metrics-sink.js';
import { verifyAccessToken, verifyJwsSignature, type IssuerKeyResolver, type VerificationContext } from './access-token-verification.js';
import { VerifiedTokenCache } from './verified-token.cache.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const pair = (type: 'ec' | 'ed25519' | 'ed448', namedCurve?: string) =>
  type === 'ec' ? generateKeyPairSync('ec', { namedCurve: namedCurve! }) : type === 'ed25519' ? generateKeyPairSync('ed25519') : generateKeyPairSync('ed448');
const secret = (bytes: number) => {
  const key = createSecretKey(randomBytes(bytes));
  return { privateKey: key, publicKey: key };
};

/** Every algorithm the ring accepts, with a key of its type. */
const CASES: Array<[string, { privateKey: KeyObject; publicKey: KeyObject }]> = [
  ['HS256', secret(32)],
  ['HS384', secret(48)],
  ['HS512', secret(64)],
  ['RS256', rsa],
  ['RS384', rsa],
  ['RS512', rsa],
  ['PS256', rsa],
  ['PS384', rsa],
  ['PS512', rsa],
  ['ES256', pair('ec', 'P-256')],
  ['ES384', pair('ec', 'P-384')],
  ['ES512', pair('ec', 'P-521')],
  ['EdDSA', pair('ed25519')],
];

/** A compact JWS made by jose (a signer independent of the verification): its signing input and signature. */
async function joseSigned(alg: string, key: KeyObject, payload = { sub: 'alice' }): Promise<{ input: string; signature: Buffer }> {
  const token = await new CompactSign(Buffer.from(JSON.stringify(payload))).setProtectedHeader({ alg }).sign(key);
  const [header, body, signature] = token.split('.');
  return { input: `${header}.${body}`, signature: Buffer.from(signature, 'base64url') };
}

const flipped = (bytes: Buffer, index = 0) => {
  const copy = Buffer.from(bytes);
  copy[index % copy.length] ^= 0x01;
  return copy;
};

describe('verifyJwsSignature (the signature backend)', () => {
  it.each(CASES)('%s: verifies a signature jose made, refuses one changed bit, another input and an empty signature', async (alg, { privateKey, publicKey }) => {
    const { input, signature } = await joseSigned(alg, privateKey);
    expect(verifyJwsSignature(alg, publicKey, input, signature)).toBe(true);
    expect(verifyJwsSignature(alg, publicKey, input, flipped(signature))).toBe(false);
    expect(verifyJwsSignature(alg, publicKey, input, flipped(signature, signature.length - 1))).toBe(false);
    expect(verifyJwsSignature(alg, publicKey, `${input}x`, signature)).toBe(false);
    expect(verifyJwsSignature(alg, publicKey, input, Buffer.alloc(0))).toBe(false);
  });

  it('Ed448 (a ring key may be one): verifies its signature, refuses a changed bit', () => {
    const { privateKey, publicKey } = pair('ed448');
    const signature = cryptoSign(null, Buffer.from('a.b'), privateKey);
    expect(verifyJwsSignature('EdDSA', publicKey, 'a.b', signature)).toBe(true);
    expect(verifyJwsSignature('EdDSA', publicKey, 'a.b', flipped(signature))).toBe(false);
  });

  it('a signature is only valid for the algorithm it was made with: RS and PS, the hash size, the ECDSA encoding', async () => {
    const rs = await joseSigned('RS256', rsa.privateKey);
    const ps = await joseSigned('PS256', rsa.privateKey);
    expect(verifyJwsSignature('PS256', rsa.publicKey, rs.input, rs.signature)).toBe(false);
    expect(verifyJwsSignature('RS256', rsa.publicKey, ps.input, ps.signature)).toBe(false);
    expect(verifyJwsSignature('RS384', rsa.publicKey, rs.input, rs.signature)).toBe(false);
    const hs = CASES[0][1].publicKey;
    const mac = await joseSigned('HS256', hs);
    expect(verifyJwsSignature('HS512', hs, mac.input, mac.signature)).toBe(false);
    // ECDSA in DER (what node:crypto and OpenSSL make by default) is not the JWS encoding (R || S): refused.
    const ec = CASES[9][1];
    const der = cryptoSign('sha256', Buffer.from('a.b'), ec.privateKey);
    expect(verifyJwsSignature('ES256', ec.publicKey, 'a.b', der)).toBe(false);
    expect(verifyJwsSignature('ES256', ec.publicKey, 'a.b', cryptoSign('sha256', Buffer.from('a.b'), { key: ec.privateKey, dsaEncoding: 'ieee-p1363' }))).toBe(true);
  });

  it('never throws on hostile signatures: any bytes of any length are a wrong signature', () => {
    for (const [alg, { publicKey }] of CASES) {
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 0, maxLength: 600 }), (bytes) => {
          expect(verifyJwsSignature(alg, publicKey, 'eyJhbGciOiJub25lIn0.e30', Buffer.from(bytes))).toBe(false);
        }),
        { numRuns: 150 },
      );
    }
  });
});

describe('verifyAccessToken (the one verification)', () => {
  const t0 = Date.UTC(2026, 10, 24);
  const nowSec = Math.floor(t0 / 1000);
  const hs = createSecretKey(randomBytes(32));
  const es = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  /** A resolver with one key: `hs` for HS256 (`algorithms` of the key as given), and a profile allowing `allowed`. */
  const resolver = (issuer: string, algorithms: string[], allowed = algorithms, verifyKey: KeyObject = hs): IssuerKeyResolver => ({
    profile: { types: ['at+jwt'], allowedAlgorithms: new Set(allowed), kidPattern: KID_PATTERN },
    rules: { issuer, audiences: ['api'], clockToleranceSec: 30, maxLifetimeSec: 900, requireJti: false },
    key: () => ({ algorithms, verifyKey }),
  });
  const token = (iss: string, alg = 'HS256', key: KeyObject = hs, claims: Record<string, unknown> = {}) => {
    const input = `${Buffer.from(JSON.stringify({ alg, typ: 'at+jwt', kid: 'k' })).toString('base64url')}.${Buffer.from(JSON.stringify({ iss, aud: 'api', sub: 'alice', iat: nowSec, exp: nowSec + 300, ...claims })).toString('base64url')}`;
    const signature = alg === 'HS256' ? createHmac('sha256', key).update(input).digest() : cryptoSign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
    return `${input}.${signature.toString('base64url')}`;
  };
  let lookups: boolean[];
  let context: VerificationContext;
  beforeEach(() => {
    jest.useFakeTimers({ now: t0 });
    lookups = [];
    const metrics: DefenseMetricsSink = { decision: () => undefined, storeCall: () => undefined, cacheLookup: (hit) => lookups.push(hit) };
    context = { maxTokenBytes: 8192, cache: new VerifiedTokenCache(100), clock: new DefenseClock(), metrics };
  });
  afterEach(() => jest.useRealTimers());

  it("refuses an algorithm its issuer allows but the key does not, before any signature check (algorithm_not_allowed)", async () => {
    const mixed = resolver('own', ['ES256'], ['ES256', 'HS256'], es.publicKey);
    await expect(Promise.resolve().then(() => verifyAccessToken(token('own'), () => mixed, context))).rejects.toMatchObject({ code: 'algorithm_not_allowed', reason: 'alg_not_for_key' });
    await expect(Promise.resolve().then(() => verifyAccessToken(token('own', 'ES256', es.privateKey), () => mixed, context))).resolves.toMatchObject({ sub: 'alice', issuer: 'own' });
  });

  it("serves a cached principal only to a caller whose resolvers name its issuer", async () => {
    const own = resolver('own', ['HS256']);
    const partner = resolver('partner', ['HS256']);
    const both = (iss: unknown) => (iss === 'partner' ? partner : own);
    const theirs = token('partner');
    const key = jest.spyOn(partner, 'key');
    await expect(Promise.resolve().then(() => verifyAccessToken(theirs, both, context))).resolves.toMatchObject({ issuer: 'partner' });
    await expect(Promise.resolve().then(() => verifyAccessToken(theirs, both, context))).resolves.toMatchObject({ issuer: 'partner' });
    expect(key).toHaveBeenCalledTimes(1);
    expect(lookups).toEqual([false, true]);
    // A caller with this module's ring alone (TokenService.verify) is not handed the partner's principal.
    await expect(Promise.resolve().then(() => verifyAccessToken(theirs, () => own, context))).rejects.toMatchObject({ code: 'claim_invalid', reason: 'iss' });
    expect(lookups).toEqual([false, true, false]);
  });

  it('re-checks a cached principal against the clock as a fresh one: not yet valid when the clock moved back, expired at exp + tolerance', async () => {
    const own = resolver('own', ['HS256']);
    const mine = token('own');
    await verifyAccessToken(mine, () => own, context);
    jest.setSystemTime(t0 - 31_000);
    await expect(Promise.resolve().then(() => verifyAccessToken(mine, () => own, context))).rejects.toMatchObject({ code: 'token_not_yet_valid' });
    jest.setSystemTime(t0);
    await verifyAccessToken(mine, () => own, context);
    expect(lookups).toEqual([false, false, false]); // the refused hit dropped the entry: verified again
    await verifyAccessToken(mine, () => own, context);
    expect(lookups).toEqual([false, false, false, true]);
    jest.setSystemTime((nowSec + 300 + 30) * 1000);
    await expect(Promise.resolve().then(() => verifyAccessToken(mine, () => own, context))).rejects.toMatchObject({ code: 'token_expired' });
    expect(context.cache.size).toBe(0);
  });

  it('a token with nbf: a cached principal is refused again before nbf (the clock moved back)', async () => {
    const own = resolver('own', ['HS256']);
    const later = token('own', 'HS256', hs, { nbf: nowSec + 10 });
    await verifyAccessToken(later, () => own, context);
    jest.setSystemTime(t0 - 21_000);
    await expect(Promise.resolve().then(() => verifyAccessToken(later, () => own, context))).rejects.toMatchObject({ code: 'token_not_yet_valid' });
  });
});

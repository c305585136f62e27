import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { jwkOutOfBounds } from './jwk-bounds.js';

const publicJwk = (key: ReturnType<typeof generateKeyPairSync>['privateKey']) => createPublicKey(key).export({ format: 'jwk' }) as Record<string, unknown>;

describe('jwkOutOfBounds', () => {
  it.each<[string, Record<string, unknown>, string | undefined, string | undefined]>([
    ['RSA 2048, e = 65537', publicJwk(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey), 'RS256', undefined],
    ['RSA 4096', publicJwk(generateKeyPairSync('rsa', { modulusLength: 4096 }).privateKey), 'PS256', undefined],
    ['RSA 1024', publicJwk(generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey), 'RS256', 'jwk_rsa_modulus'],
    ['RSA e = 3', publicJwk(generateKeyPairSync('rsa', { modulusLength: 2048, publicExponent: 3 }).privateKey), 'RS256', 'jwk_rsa_exponent'],
    ['RSA for ES256', publicJwk(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey), 'ES256', 'jwk_alg'],
    ['P-256 for ES256', publicJwk(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey), 'ES256', undefined],
    ['P-384 for ES384', publicJwk(generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey), 'ES384', undefined],
    ['P-521 for ES512', publicJwk(generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey), 'ES512', undefined],
    ['P-384 for ES256', publicJwk(generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey), 'ES256', 'jwk_alg'],
    ['secp256k1', publicJwk(generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey), 'ES256', 'jwk_curve'],
    ['Ed25519 for EdDSA', publicJwk(generateKeyPairSync('ed25519').privateKey), 'EdDSA', undefined],
    ['Ed448', publicJwk(generateKeyPairSync('ed448').privateKey), 'EdDSA', 'jwk_curve'],
    ['X25519 (not a signing key)', publicJwk(generateKeyPairSync('x25519').privateKey), 'EdDSA', 'jwk_curve'],
    ['a symmetric key', { kty: 'oct', k: 'AAAA' }, 'HS256', 'jwk_kty'],
  ])('%s', (_name, jwk, alg, expected) => {
    expect(jwkOutOfBounds(jwk, alg)).toBe(expected);
  });

  it('an RSA modulus is within the bounds exactly from 2048 to 4096 bits (built by construction)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8200 }), (bits) => {
        const bytes = Math.ceil(bits / 8);
        const n = randomBytes(bytes);
        n[0] = (n[0] | 0x80) >> ((8 - (bits % 8)) % 8);
        const jwk = { kty: 'RSA', e: 'AQAB', n: n.toString('base64url') };
        expect(jwkOutOfBounds(jwk, 'RS256')).toBe(bits >= 2048 && bits <= 4096 ? undefined : 'jwk_rsa_modulus');
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on hostile members, and only ever answers a reason or undefined', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.constantFrom('kty', 'crv', 'x', 'y', 'n', 'e', 'alg'), fc.oneof(fc.string(), fc.constantFrom('RSA', 'EC', 'OKP', 'P-256', 'Ed25519', 'AQAB'), fc.anything())), fc.option(fc.string()), (jwk, alg) => {
        const reason = jwkOutOfBounds(jwk, alg ?? undefined);
        expect(reason === undefined || /^jwk_[a-z_]+$/.test(reason)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { keyEncryptionKeyFrom, seal, unseal, UnsealError } from './key-sealing.js';
import { generateKeyFor, openSigningKey, sealSigningKey } from './key-rotation.js';

describe('key sealing (AES-256-GCM under the key-encryption key)', () => {
  const kek = randomBytes(32);

  it('round-trips, binds the associated data, and refuses another KEK or any flipped bit', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.string(), fc.nat(), (bytes, associated, flip) => {
        const plaintext = Buffer.from(bytes);
        const sealed = seal(kek, plaintext, associated);
        expect(unseal(kek, sealed, associated).equals(plaintext)).toBe(true);
        expect(() => unseal(kek, sealed, `${associated}x`)).toThrow(UnsealError);
        expect(() => unseal(randomBytes(32), sealed, associated)).toThrow(expect.objectContaining({ reason: 'other_kek' }));
        const parts = sealed.split('.');
        const body = Buffer.from(parts[4], 'base64url');
        body[flip % body.length] ^= 1;
        parts[4] = body.toString('base64url');
        expect(() => unseal(kek, parts.join('.'), associated)).toThrow(expect.objectContaining({ reason: 'tampered' }));
      }),
      { numRuns: 200 },
    );
    expect(() => unseal(kek, 'not.sealed', 'a')).toThrow(expect.objectContaining({ reason: 'format' }));
  });

  it('never stores key material in clear, and a stored key cannot be moved to another kid', async () => {
    const key = await generateKeyFor(['ES256']);
    const stored = sealSigningKey(kek, 'k1', ['ES256'], key, 1);
    const der = key.export({ format: 'der', type: 'pkcs8' });
    expect(JSON.stringify(stored)).not.toContain(der.toString('base64url'));
    expect(JSON.stringify(stored)).not.toContain(der.toString('base64'));
    expect(openSigningKey(kek, stored).verifyKey.equals(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey)).toBe(false);
    expect(openSigningKey(kek, stored).kid).toBe('k1');
    expect(() => openSigningKey(kek, { ...stored, kid: 'k2' })).toThrow(UnsealError);
    expect(() => openSigningKey(kek, { ...stored, algorithms: ['ES384'] })).toThrow(UnsealError);
  });

  it('makes keys of the signing key\'s family', async () => {
    for (const [algorithms, type] of [[['ES256'], 'ec'], [['EdDSA'], 'ed25519'], [['RS256', 'PS256'], 'rsa'], [['HS256'], undefined]] as const) {
      const stored = sealSigningKey(kek, 'k', algorithms, await generateKeyFor(algorithms), 1);
      const opened = openSigningKey(kek, stored);
      expect(opened.algorithms).toEqual(algorithms);
      expect(opened.verifyKey.asymmetricKeyType).toBe(type);
      // The sign key is the private (or secret) half of the verify key.
      expect(opened.signKey?.type).toBe(type === undefined ? 'secret' : 'private');
      expect(opened.signKey?.asymmetricKeyType).toBe(type);
    }
  });

  it('reads a KEK of exactly 32 bytes from a Buffer, base64 or base64url', () => {
    const bytes = randomBytes(32);
    expect(keyEncryptionKeyFrom(bytes.toString('base64')).equals(bytes)).toBe(true);
    expect(keyEncryptionKeyFrom(bytes.toString('base64url')).equals(bytes)).toBe(true);
    expect(() => keyEncryptionKeyFrom(randomBytes(16))).toThrow(/exactly 32 bytes/);
  });
});

import { createCipheriv, createDecipheriv, createHmac, KeyObject, randomBytes } from 'node:crypto';

const VERSION = 'v1';
const KEK_BYTES = 32;

/** A key-encryption key (32 bytes) from a Buffer, a secret KeyObject or a base64url/base64 string. */
export function keyEncryptionKeyFrom(material: Buffer | string | KeyObject): Buffer {
  let bytes: Buffer;
  if (material instanceof KeyObject) {
    if (material.type !== 'secret') throw new TypeError('must be a secret key of 32 bytes');
    bytes = material.export();
  } else if (typeof material === 'string') {
    bytes = Buffer.from(material.replace(/=+$/, ''), /[+/]/.test(material) ? 'base64' : 'base64url');
  } else if (Buffer.isBuffer(material)) {
    bytes = material;
  } else {
    throw new TypeError('must be a Buffer, a secret KeyObject or a base64url string of 32 bytes');
  }
  if (bytes.length !== KEK_BYTES) throw new TypeError(`must be exactly ${KEK_BYTES} bytes (got ${bytes.length}): generate one with openssl rand -base64 32`);
  return Buffer.from(bytes);
}

/** A short public id of a key-encryption key (never the key): tells which KEK sealed a stored key. */
export function keyEncryptionKeyId(kek: Buffer): string {
  return createHmac('sha256', kek).update('jwt-defense kek id').digest().subarray(0, 6).toString('base64url');
}

/**
 * Seals `plaintext` with AES-256-GCM under `kek`; `associated` (the kid and algorithms) is authenticated with it, so a
 * sealed key cannot be moved to another kid. Output: `v1.<kekId>.<iv>.<tag>.<ciphertext>`.
 */
export function seal(kek: Buffer, plaintext: Buffer, associated: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek, iv);
  cipher.setAAD(Buffer.from(associated, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return [VERSION, keyEncryptionKeyId(kek), iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ciphertext.toString('base64url')].join('.');
}

/** Why a sealed key could not be opened. */
export class UnsealError extends Error {
  override readonly name = 'UnsealError';
  constructor(readonly reason: 'format' | 'other_kek' | 'tampered') {
    super(reason === 'other_kek' ? 'sealed with another key-encryption key' : reason === 'format' ? 'not a sealed key' : 'authentication failed');
  }
}

/** Opens what {@link seal} sealed; throws {@link UnsealError} on another KEK, a tampered box or a foreign format. */
export function unseal(kek: Buffer, sealed: string, associated: string): Buffer {
  const parts = sealed.split('.');
  if (parts.length !== 5 || parts[0] !== VERSION) throw new UnsealError('format');
  if (parts[1] !== keyEncryptionKeyId(kek)) throw new UnsealError('other_kek');
  try {
    const decipher = createDecipheriv('aes-256-gcm', kek, Buffer.from(parts[2], 'base64url'));
    decipher.setAAD(Buffer.from(associated, 'utf8'));
    decipher.setAuthTag(Buffer.from(parts[3], 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(parts[4], 'base64url')), decipher.final()]);
  } catch {
    throw new UnsealError('tampered');
  }
}

import { createPrivateKey, createSecretKey, generateKeyPair, randomBytes, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type { StoredSigningKey } from '../store/defense-store.ports.js';
import { resolveKey, type JwtAlgorithm, type ResolvedKey } from '../token/key-ring.js';
import { seal, unseal } from './key-sealing.js';

const HS_BYTES: Record<string, number> = { HS256: 32, HS384: 48, HS512: 64 };
const EC_CURVES: Record<string, string> = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521' };

const generatePair = promisify(generateKeyPair);
const randomBytesAsync = promisify(randomBytes);

/**
 * A new key of the same family as `algorithms` (the signing key's allow-list), made off the event loop (an RSA key
 * takes long enough to stall every request).
 */
export async function generateKeyFor(algorithms: readonly JwtAlgorithm[]): Promise<KeyObject> {
  const first = algorithms[0];
  if (first.startsWith('HS')) return createSecretKey(await randomBytesAsync(Math.max(...algorithms.map((alg) => HS_BYTES[alg] ?? 64))));
  if (first.startsWith('RS') || first.startsWith('PS')) return (await generatePair('rsa', { modulusLength: 2048 })).privateKey;
  if (first === 'EdDSA') return (await generatePair('ed25519', {})).privateKey;
  return (await generatePair('ec', { namedCurve: EC_CURVES[first] })).privateKey;
}

/** A fresh kid: the time it was made and random bits (`r-<ms base36>-<random>`, within `[A-Za-z0-9._-]{1,64}`). */
export function newRotatedKid(nowMs: number): string {
  return `r-${nowMs.toString(36)}-${randomBytes(9).toString('base64url')}`;
}

function associatedData(kid: string, algorithms: readonly string[]): string {
  return `jwt-defense signing key\u0000${kid}\u0000${algorithms.join(',')}`;
}

/** Seals a key for the store: its private key (PKCS#8 DER) or its secret, under the KEK. */
export function sealSigningKey(kek: Buffer, kid: string, algorithms: readonly JwtAlgorithm[], key: KeyObject, nowMs: number): StoredSigningKey {
  const material = key.type === 'secret' ? key.export() : key.export({ format: 'der', type: 'pkcs8' });
  return { kid, algorithms: [...algorithms], sealed: seal(kek, material, associatedData(kid, algorithms)), createdAtMs: nowMs };
}

/**
 * Opens a stored key into a ring key. The public half is derived from the unsealed private key, never read from the
 * store: a key that does not unseal under our KEK is never trusted, even for verification.
 */
export function openSigningKey(kek: Buffer, stored: StoredSigningKey): ResolvedKey {
  const material = unseal(kek, stored.sealed, associatedData(stored.kid, stored.algorithms));
  const algorithms = stored.algorithms as JwtAlgorithm[];
  const options = algorithms[0].startsWith('HS')
    ? { kid: stored.kid, algorithms, secret: createSecretKey(material) }
    : { kid: stored.kid, algorithms, privateKey: createPrivateKey({ key: material, format: 'der', type: 'pkcs8' }) };
  return resolveKey(options, 0, `rotated key ${stored.kid}`);
}

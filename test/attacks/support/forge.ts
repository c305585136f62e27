import { createHash, createPublicKey, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import { b64url, signJws } from '../../support/jws.js';

export { b64url, signJws };

/** The order n of the P-256 group (FIPS 186-4, D.1.2.3). */
export const P256_ORDER = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');

const toBytes32 = (value: bigint) => Buffer.from(value.toString(16).padStart(64, '0'), 'hex');

/** The segments of a compact token, and it put back together with one segment replaced. */
export function segments(token: string): string[] {
  return token.split('.');
}

export function withSignature(token: string, signature: Buffer | string): string {
  const [h, p] = segments(token);
  return `${h}.${p}.${typeof signature === 'string' ? signature : signature.toString('base64url')}`;
}

/**
 * The high-S twin of an ES256 signature (r, s) → (r, n − s): also valid for the same message and key (ECDSA
 * signatures are malleable; JWS does not require low-S). Returns the token with the twin signature.
 */
export function highSTwin(token: string): string {
  const signature = Buffer.from(segments(token)[2], 'base64url');
  if (signature.length !== 64) throw new Error('not an ES256 signature');
  const r = signature.subarray(0, 32);
  const s = BigInt(`0x${signature.subarray(32).toString('hex')}`);
  return withSignature(token, Buffer.concat([r, toBytes32(P256_ORDER - s)]));
}

/** r and s of an ES256 signature as numbers. */
export function ecdsaParts(token: string): { r: bigint; s: bigint } {
  const signature = Buffer.from(segments(token)[2], 'base64url');
  return { r: BigInt(`0x${signature.subarray(0, 32).toString('hex')}`), s: BigInt(`0x${signature.subarray(32).toString('hex')}`) };
}

/** An ES256 signature made of r and s (each reduced to 32 bytes). */
export function ecdsaSignature(r: bigint, s: bigint): Buffer {
  return Buffer.concat([toBytes32(r), toBytes32(s)]);
}

/** ES256 over `header.payload` but DER-encoded (what node:crypto gives by default), not JOSE's r||s. */
export function derSignedJws(header: object, payload: object, key: KeyObject): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${cryptoSign('sha256', Buffer.from(input), key).toString('base64url')}`;
}

/** `json` with raw `bytes` spliced in just before its last two characters (inside the last string member). */
export function withBytesInside(json: string, bytes: number[]): Buffer {
  return Buffer.concat([Buffer.from(json.slice(0, -2)), Buffer.from(bytes), Buffer.from(json.slice(-2))]);
}

/** A compact JWE-looking token: five segments, a JWE header (`enc`). Nothing in it is ever decrypted. */
export function jweLike(header: object = { alg: 'RSA-OAEP-256', enc: 'A256GCM', typ: 'at+jwt' }): string {
  return [b64url(header), b64url(Buffer.alloc(256, 7)), b64url(Buffer.alloc(12, 1)), b64url('ciphertext'), b64url(Buffer.alloc(16, 2))].join('.');
}

/** Flips the spare low bits of a base64url segment's last character: another spelling of the same bytes. */
export function respell(segment: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const spare = segment.length % 4 === 2 ? 15 : segment.length % 4 === 3 ? 3 : 0;
  if (spare === 0) throw new Error('no spare bits in a segment whose length is a multiple of 4');
  return segment.slice(0, -1) + alphabet[alphabet.indexOf(segment.slice(-1)) | 1];
}

export const ecKey = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
let attackerRsa: KeyObject | undefined;
/** An attacker's RSA key (one per run: RSA key generation is slow). */
export const rsaKey = () => (attackerRsa ??= generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);

export function publicPem(key: KeyObject): string {
  return createPublicKey(key).export({ format: 'pem', type: 'spki' }) as string;
}

export function publicJwk(key: KeyObject): Record<string, string> {
  return createPublicKey(key).export({ format: 'jwk' }) as Record<string, string>;
}

export function ath(accessToken: string): string {
  return createHash('sha256').update(accessToken).digest('base64url');
}

/**
 * A DPoP proof built by hand (RFC 9449 §4.2), so every member can be wrong: the header defaults to
 * `{typ: 'dpop+jwt', alg: 'ES256', jwk: <public jwk of key>}` and the payload to `{jti, htm, htu, iat, ath}`;
 * `header`/`payload` override members (a member set to `undefined` is dropped). Signed ES256 by `signer`
 * (default `key`), or with `sign` for anything else.
 */
export function handProof(options: {
  key: KeyObject;
  htm: string;
  htu: string;
  accessToken?: string;
  header?: Record<string, unknown>;
  payload?: Record<string, unknown>;
  signer?: KeyObject;
  sign?: (header: object, payload: object) => string;
}): string {
  const { kty, crv, x, y } = publicJwk(options.key);
  const header = drop({ typ: 'dpop+jwt', alg: 'ES256', jwk: { kty, crv, x, y }, ...options.header });
  const payload = drop({
    jti: `proof-${Math.random().toString(36).slice(2)}-${Date.now()}`,
    htm: options.htm,
    htu: options.htu,
    iat: Math.floor(Date.now() / 1000),
    ...(options.accessToken === undefined ? {} : { ath: ath(options.accessToken) }),
    ...options.payload,
  });
  if (options.sign) return options.sign(header, payload);
  return signJws(header, payload, options.signer ?? options.key, 'ES256');
}

function drop(object: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(object).filter(([, value]) => value !== undefined));
}

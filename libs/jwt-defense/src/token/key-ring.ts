import { createPrivateKey, createPublicKey, createSecretKey, KeyObject, type JsonWebKey } from 'node:crypto';
import { KID_PATTERN } from '../jwt-defense.constants.js';
import type { JwtKeyOptions } from './token.options.js';

/** JWS algorithms jwt-defense signs and verifies (RFC 7518, RFC 8037). `none` is never one of them. */
export const JWT_ALGORITHMS = [
  'HS256', 'HS384', 'HS512',
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA',
] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

/** Key material: a PEM string, a Buffer (HS secret bytes or PEM/DER), or a `KeyObject`. */
export type KeyMaterial = string | Buffer | KeyObject;


/** A key imported once at boot. Every verify uses these `KeyObject`s: no key parsing per request. */
export interface ResolvedKey {
  readonly kid: string;
  readonly algorithms: readonly JwtAlgorithm[];
  readonly symmetric: boolean;
  readonly verifyKey: KeyObject;
  readonly signKey?: KeyObject;
}

type Family = 'HS' | 'RSA' | 'ES256' | 'ES384' | 'ES512' | 'EdDSA';

function familyOf(alg: JwtAlgorithm): Family {
  if (alg.startsWith('HS')) return 'HS';
  if (alg.startsWith('RS') || alg.startsWith('PS')) return 'RSA';
  return alg as Family;
}

const HS_MIN_BYTES: Record<string, number> = { HS256: 32, HS384: 48, HS512: 64 };
const CURVES: Record<string, string> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };
const MIN_RSA_BITS = 2048;

function bad(path: string, problem: string, fix: string): never {
  throw new TypeError(`jwt-defense: invalid options: ${path} ${problem}. ${fix}`);
}

const NOT_A_SECRET =
  'An HS* secret must be random bytes known only to you: a public key used as one lets anyone who has it mint tokens. For a key pair, use RS*/PS*/ES*/EdDSA algorithms with privateKey or publicKey; for HS*, a random secret (e.g. randomBytes(32)).';

function toSecretKey(material: KeyMaterial, path: string): KeyObject {
  if (material instanceof KeyObject) {
    if (material.type !== 'secret') bad(path, `is a ${material.type} key, not a secret`, NOT_A_SECRET);
    return material;
  }
  const bytes = typeof material === 'string' ? Buffer.from(material, 'utf8') : material;
  if (bytes.includes('-----BEGIN ') || isDerKey(bytes)) bad(path, 'is a PEM or DER key, not a secret', NOT_A_SECRET);
  return createSecretKey(bytes);
}

/** True when the bytes read as a DER public or private key (SPKI, PKCS#8, PKCS#1). */
function isDerKey(bytes: Buffer): boolean {
  // DER starts with a SEQUENCE tag; anything else is not worth the parse attempts.
  if (bytes[0] !== 0x30) return false;
  const attempts: Array<() => unknown> = [
    () => createPublicKey({ key: bytes, format: 'der', type: 'spki' }),
    () => createPublicKey({ key: bytes, format: 'der', type: 'pkcs1' }),
    () => createPrivateKey({ key: bytes, format: 'der', type: 'pkcs8' }),
    () => createPrivateKey({ key: bytes, format: 'der', type: 'pkcs1' }),
    () => createPrivateKey({ key: bytes, format: 'der', type: 'sec1' }),
  ];
  return attempts.some((attempt) => {
    try {
      attempt();
      return true;
    } catch {
      return false;
    }
  });
}

function toAsymmetricKey(material: KeyMaterial, kind: 'private' | 'public', path: string): KeyObject {
  if (material instanceof KeyObject) {
    if (material.type !== kind) bad(path, `is not a ${kind} key`, `Pass a ${kind} key (PEM or KeyObject).`);
    return material;
  }
  try {
    return kind === 'private' ? createPrivateKey(material) : createPublicKey(material);
  } catch (error) {
    bad(path, `could not be read as a ${kind} key`, 'Pass a PEM string, a Buffer holding PEM/DER, or a KeyObject.');
  }
}

function checkAsymmetricKey(key: KeyObject, family: Family, path: string): void {
  const type = key.asymmetricKeyType;
  if (family === 'RSA') {
    if (type !== 'rsa' && type !== 'rsa-pss') bad(path, `is a ${type} key, not RSA`, 'RS*/PS* need an RSA key.');
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < MIN_RSA_BITS) bad(path, `has ${bits} bits`, `Use an RSA key of at least ${MIN_RSA_BITS} bits.`);
  } else if (family === 'EdDSA') {
    if (type !== 'ed25519' && type !== 'ed448') bad(path, `is a ${type} key`, 'EdDSA needs an Ed25519 or Ed448 key.');
  } else {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (type !== 'ec' || curve !== CURVES[family]) {
      bad(path, `is not on the curve ${family} requires`, `${family} needs an EC key on ${CURVES[family]}.`);
    }
  }
}

/** Imports and checks one key; throws a `TypeError` naming the option and the fix. */
export function resolveKey(options: JwtKeyOptions, index: number, path = `keys[${index}]`): ResolvedKey {
  if (typeof options.kid !== 'string' || !KID_PATTERN.test(options.kid)) {
    bad(`${path}.kid`, 'is missing or invalid', 'Give every key a kid of 1-64 characters from [A-Za-z0-9._-].');
  }
  const algorithms = options.algorithms;
  if (!Array.isArray(algorithms) || algorithms.length === 0) {
    bad(`${path}.algorithms`, 'is empty', `List the algorithms this key accepts, e.g. ['ES256'].`);
  }
  for (const alg of algorithms) {
    if (String(alg).toLowerCase() === 'none') {
      bad(`${path}.algorithms`, 'contains "none"', 'Unsigned tokens are never accepted: remove "none".');
    }
    if (!(JWT_ALGORITHMS as readonly string[]).includes(alg)) {
      bad(`${path}.algorithms`, `contains unknown algorithm "${alg}"`, `Use one of ${JWT_ALGORITHMS.join(', ')}.`);
    }
  }
  const families = new Set(algorithms.map(familyOf));
  if (families.has('HS') && families.size > 1) {
    bad(`${path}.algorithms`, 'mixes symmetric (HS*) and asymmetric algorithms', 'Use a separate key (and kid) for each.');
  }
  if (families.size > 1) {
    bad(`${path}.algorithms`, `mixes algorithm families (${[...families].join(', ')})`, 'One key serves one key type and curve.');
  }
  const family = [...families][0];

  if (family === 'HS') {
    if (options.privateKey !== undefined || options.publicKey !== undefined || options.secret === undefined) {
      bad(path, 'uses HS* algorithms', 'Set `secret` (and neither privateKey nor publicKey).');
    }
    const key = toSecretKey(options.secret, `${path}.secret`);
    const needed = Math.max(...algorithms.map((alg) => HS_MIN_BYTES[alg]));
    if (key.symmetricKeySize! < needed) {
      bad(`${path}.secret`, `is ${key.symmetricKeySize} bytes`, `Use a random secret of at least ${needed} bytes for ${algorithms.join('/')}.`);
    }
    return { kid: options.kid, algorithms: [...algorithms], symmetric: true, verifyKey: key, signKey: key };
  }

  if (options.secret !== undefined) {
    bad(`${path}.secret`, `is set for asymmetric algorithms`, 'Set privateKey (to sign) or publicKey (to verify only).');
  }
  let signKey: KeyObject | undefined;
  let verifyKey: KeyObject;
  if (options.privateKey !== undefined) {
    signKey = toAsymmetricKey(options.privateKey, 'private', `${path}.privateKey`);
    checkAsymmetricKey(signKey, family, `${path}.privateKey`);
    verifyKey = createPublicKey(signKey);
  } else if (options.publicKey !== undefined) {
    verifyKey = toAsymmetricKey(options.publicKey, 'public', `${path}.publicKey`);
  } else {
    bad(path, 'has no key material', 'Set privateKey (to sign) or publicKey (to verify only).');
  }
  checkAsymmetricKey(verifyKey, family, `${path}.publicKey`);
  return { kid: options.kid, algorithms: [...algorithms], symmetric: false, verifyKey, signKey };
}

/** A JWK as published in a JWKS document: public members only. */
export interface PublicJwk extends JsonWebKey {
  kid: string;
  alg: string;
  use: 'sig';
}

/** The public JWK of an asymmetric key; `undefined` for secrets (never published). */
export function toPublicJwk(key: ResolvedKey): PublicJwk | undefined {
  if (key.symmetric) return undefined;
  // Exporting from the public KeyObject guarantees no private member (d, p, q...) can leak.
  const jwk = key.verifyKey.export({ format: 'jwk' });
  return { ...jwk, kid: key.kid, alg: key.algorithms[0], use: 'sig' };
}

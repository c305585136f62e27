/**
 * Bounds on a public JWK, checked before any crypto touches it (a DPoP proof's `jwk`, a key of an external issuer's
 * JWKS): RSA with `e` = 65537 and a modulus of 2048 to 4096 bits; EC on P-256, P-384 or P-521 with coordinates of that
 * curve's size; OKP on Ed25519. A hostile key (a 3,000-bit exponent, a 16,384-bit modulus) would otherwise cost
 * milliseconds of CPU per request. With `alg`, the key must also be of that algorithm's family and curve.
 */

const EC_CURVES: Readonly<Record<string, { bytes: number; alg: string }>> = {
  'P-256': { bytes: 32, alg: 'ES256' },
  'P-384': { bytes: 48, alg: 'ES384' },
  'P-521': { bytes: 66, alg: 'ES512' },
};
const RSA_ALGS = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']);
const MIN_RSA_BITS = 2048;
const MAX_RSA_BITS = 4096;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** The bytes of a base64url member, or undefined when it is not a canonical base64url string. */
function bytesOf(value: unknown): Buffer | undefined {
  if (typeof value !== 'string' || !BASE64URL.test(value) || value.length > 1024) return undefined;
  const bytes = Buffer.from(value, 'base64url');
  return bytes.toString('base64url') === value ? bytes : undefined;
}

/** Why `jwk` is out of bounds (a short reason for events), or `undefined` when it is within them. */
export function jwkOutOfBounds(jwk: Readonly<Record<string, unknown>>, alg?: string): string | undefined {
  if (jwk.kty === 'RSA') {
    if (alg !== undefined && !RSA_ALGS.has(alg)) return 'jwk_alg';
    if (jwk.e !== 'AQAB') return 'jwk_rsa_exponent';
    const n = bytesOf(jwk.n);
    if (!n || n[0] === 0) return 'jwk_rsa_modulus';
    const bits = n.length * 8 - Math.clz32(n[0]) + 24;
    return bits < MIN_RSA_BITS || bits > MAX_RSA_BITS ? 'jwk_rsa_modulus' : undefined;
  }
  if (jwk.kty === 'EC') {
    const curve = typeof jwk.crv === 'string' ? EC_CURVES[jwk.crv] : undefined;
    if (!curve) return 'jwk_curve';
    if (alg !== undefined && alg !== curve.alg) return 'jwk_alg';
    return bytesOf(jwk.x)?.length === curve.bytes && bytesOf(jwk.y)?.length === curve.bytes ? undefined : 'jwk_ec_point';
  }
  if (jwk.kty === 'OKP') {
    if (jwk.crv !== 'Ed25519') return 'jwk_curve';
    if (alg !== undefined && alg !== 'EdDSA' && alg !== 'Ed25519') return 'jwk_alg';
    return bytesOf(jwk.x)?.length === 32 ? undefined : 'jwk_okp_point';
  }
  return 'jwk_kty';
}

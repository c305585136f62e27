import { createHmac, sign as cryptoSign, type KeyObject } from 'node:crypto';

/** Test-only JWS builder, to forge the hostile tokens the demo must refuse. */
export function b64url(value: string | Buffer | object): string {
  const bytes = typeof value === 'string' || Buffer.isBuffer(value) ? Buffer.from(value) : Buffer.from(JSON.stringify(value));
  return bytes.toString('base64url');
}

export type ForgeAlgorithm = 'ES256' | 'HS256' | 'EdDSA' | 'RS256';

/** Signs `header.payload` (each already a JSON object or a raw JSON string) with `key`. */
export function signJws(
  header: object | string | Buffer,
  payload: object | string | Buffer,
  key: KeyObject | Buffer | string,
  alg: ForgeAlgorithm,
): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  let signature: Buffer;
  if (alg === 'HS256') signature = createHmac('sha256', key as Buffer).update(input).digest();
  else if (alg === 'EdDSA') signature = cryptoSign(null, Buffer.from(input), key as KeyObject);
  else if (alg === 'ES256') signature = cryptoSign('sha256', Buffer.from(input), { key: key as KeyObject, dsaEncoding: 'ieee-p1363' });
  else signature = cryptoSign('sha256', Buffer.from(input), key as KeyObject);
  return `${input}.${signature.toString('base64url')}`;
}

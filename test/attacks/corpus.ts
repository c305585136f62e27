import { constants, createHmac, createPublicKey, sign as cryptoSign, type KeyObject } from 'node:crypto';
import type request from 'supertest';
import type { DefenseErrorCode } from '@jwt-defense/core';
import { DEFENSE_ERROR_CODES } from '../../libs/jwt-defense/src/errors/defense-error-code.js';
import { ALICE_DEVICE, ORIGIN, type AttackTarget } from './support/attack-target.js';
import {
  b64url,
  derSignedJws,
  ecdsaParts,
  ecdsaSignature,
  ecKey,
  handProof,
  highSTwin,
  jweLike,
  P256_ORDER,
  publicJwk,
  publicPem,
  respell,
  rsaKey,
  segments,
  signJws,
  withBytesInside,
  withSignature,
} from './support/forge.js';

// THE ATTACK CORPUS: every hostile request is built here, in code, with the answer it must get. The runner
// (corpus.e2e-spec.ts) sends each against the demo on real Redis and checks the answer, that nothing of the
// request is echoed, that the security headers are there, that no defence state changed, and that a valid token
// still works afterwards.

export const CATEGORIES = [
  'alg none',
  'algorithm confusion',
  'signature',
  'header injection',
  'kid injection',
  'claims',
  'duplicate members',
  'base64url',
  'utf-8',
  'size',
  'bearer syntax',
  'token in the URL',
  'jwe',
  'dpop',
  'refresh token',
  'revoked token',
] as const;
export type Category = (typeof CATEGORIES)[number];

export interface Refusal {
  status: number;
  code: DefenseErrorCode;
  /** The exact `WWW-Authenticate`, a pattern, or `null` for none. */
  challenge: string | RegExp | null;
}

/** A request the demo must serve like a genuine one (and which may change exactly what a genuine one changes). */
export const ACCEPTED = 'accepted' as const;

export interface Sent {
  req: request.Test;
  /** What the attacker sent that must never come back (a token, a proof, a header value). */
  secret: string;
}

export interface AttackCase {
  category: Category;
  name: string;
  /** Which demo: the ES256 one (default) or the RS256 one. */
  on?: 'ES256' | 'RS256';
  /** Runs before the "before" snapshot: what the attack needs (a used proof, a rotated refresh token...). */
  prepare?: (t: AttackTarget) => Promise<Record<string, string>>;
  send: (t: AttackTarget, prepared: Record<string, string>) => Sent;
  expect: Refusal | typeof ACCEPTED;
  /**
   * The state this case changes by design, and only it: the keys, and why. Every other case must change nothing.
   */
  /** The keys it may change, and what each must then hold. */
  changes?: { why: string; keys: (t: AttackTarget, prepared: Record<string, string>) => string[]; value: (t: AttackTarget, prepared: Record<string, string>) => Record<string, RegExp> };
}

// ---------------------------------------------------------------------------------------------------------
// Expected answers.

const BEARER_INVALID = 'Bearer realm="api", error="invalid_token"';
const invalidToken = (code: DefenseErrorCode): Refusal => ({ status: 401, code, challenge: BEARER_INVALID });
const MISSING: Refusal = { status: 401, code: 'token_missing', challenge: 'Bearer realm="api"' };
const INVALID_REQUEST: Refusal = { status: 400, code: 'invalid_request', challenge: /^Bearer realm="api", error="invalid_request"$/ };
const dpopRefused = (error: 'invalid_dpop_proof' | 'invalid_token' = 'invalid_dpop_proof'): Refusal => ({
  status: 401,
  code: 'invalid_dpop_proof',
  challenge: new RegExp(`^DPoP realm="api", algs="[A-Za-z0-9 ]+", error="${error}"$`),
});
const dpopChallenged = (code: DefenseErrorCode): Refusal => ({ status: 401, code, challenge: /^DPoP realm="api", algs="[A-Za-z0-9 ]+", error="invalid_token"$/ });

for (const refusal of [MISSING, INVALID_REQUEST]) if (!DEFENSE_ERROR_CODES.includes(refusal.code)) throw new Error(refusal.code);

// ---------------------------------------------------------------------------------------------------------
// Building blocks.

/** Signs with the demo's own key and algorithm: the forged token is wrong only where the case says. */
const sign = (t: AttackTarget, header: object | string | Buffer, payload: object | string | Buffer) => signJws(header, payload, t.privateKey, t.alg);
/** A token forged with the demo's key: alice's claims and header with overrides. */
const forged = (t: AttackTarget, header: Record<string, unknown> = {}, claims: Record<string, unknown> = {}) => sign(t, t.header(header), t.claims(claims));
const without = (object: Record<string, unknown>, ...names: string[]) => Object.fromEntries(Object.entries(object).filter(([name]) => !names.includes(name)));

function hmac(alg: 'HS256' | 'HS384' | 'HS512', header: object, payload: object, secret: Buffer | string): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${createHmac(`sha${alg.slice(2)}`, secret).update(input).digest('base64url')}`;
}

function ps256(header: object, payload: object, key: KeyObject): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  const signature = cryptoSign('sha256', Buffer.from(input), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
  return `${input}.${signature.toString('base64url')}`;
}

/** `GET /me` from the attacker's device with `Authorization: <value>` (one header, or several). */
function authorization(t: AttackTarget, value: string | string[], path = '/me'): Sent {
  return { req: t.attacker('get', path).set('Authorization', value as string), secret: Array.isArray(value) ? value.join(' ') : value };
}
const bearer = (t: AttackTarget, token: string) => authorization(t, `Bearer ${token}`);
/** The same from alice's learned device: for requests the demo must accept like a genuine one. */
function bearerAsAlice(t: AttackTarget, value: string): Sent {
  return { req: t.attacker('get', '/me').set('X-Device-Id', ALICE_DEVICE).set('Authorization', value), secret: value };
}
function dpopRequest(t: AttackTarget, token: string, proof: string | string[] | undefined, scheme = 'DPoP'): Sent {
  const req = t.attacker('get', '/me').set('Authorization', `${scheme} ${token}`);
  if (proof !== undefined) req.set('DPoP', proof as string);
  return { req, secret: `${token} ${Array.isArray(proof) ? proof.join(' ') : (proof ?? '')}` };
}
function refreshWith(t: AttackTarget, body: Record<string, unknown>, proof?: string): Sent {
  const req = t.attacker('post', '/auth/refresh');
  if (proof) req.set('DPoP', proof);
  return { req: req.send(body), secret: `${JSON.stringify(body)} ${proof ?? ''}` };
}

/** alice's genuine access token with its payload replaced by `claims`, keeping the genuine signature. */
const payloadSwapped = (t: AttackTarget, claims: Record<string, unknown>) => {
  const [h, , s] = segments(t.alice.access);
  return `${h}.${b64url(claims)}.${s}`;
};

const NONE_SPELLINGS = ['none', 'None', 'NONE', 'nOnE'];

const INVALID_UTF8: Array<[string, number[], 'header' | 'payload']> = [
  ['an overlong "/" (C0 AF)', [0xc0, 0xaf], 'payload'],
  ['an overlong NUL (C0 80)', [0xc0, 0x80], 'header'],
  ['a lone FF byte', [0xff], 'header'],
  ['a lone continuation byte (80)', [0x80], 'payload'],
  ['a UTF-16 surrogate (ED A0 80)', [0xed, 0xa0, 0x80], 'payload'],
  ['a truncated sequence (E2 82)', [0xe2, 0x82], 'header'],
  ['a code point above U+10FFFF (F4 90 80 80)', [0xf4, 0x90, 0x80, 0x80], 'payload'],
  ['a 5-byte sequence (F8 88 80 80 80)', [0xf8, 0x88, 0x80, 0x80, 0x80], 'header'],
];

// ---------------------------------------------------------------------------------------------------------
// The corpus.

export const CORPUS: AttackCase[] = [
  // alg none, in every spelling, with and without a signature; and a missing or odd alg.
  ...NONE_SPELLINGS.flatMap((alg): AttackCase[] => [
    { category: 'alg none', name: `alg "${alg}", empty signature`, send: (t) => bearer(t, `${b64url(t.header({ alg }))}.${b64url(t.claims())}.`), expect: invalidToken('algorithm_not_allowed') },
    {
      category: 'alg none',
      name: `alg "${alg}" with a genuine token's signature`,
      send: (t) => bearer(t, `${b64url(t.header({ alg }))}.${b64url(t.claims())}.${segments(t.alice.access)[2]}`),
      expect: invalidToken('algorithm_not_allowed'),
    },
  ]),
  { category: 'alg none', name: 'alg "none" without a third segment', send: (t) => bearer(t, `${b64url(t.header({ alg: 'none' }))}.${b64url(t.claims())}`), expect: invalidToken('token_malformed') },
  { category: 'alg none', name: 'alg "none " (trailing space)', send: (t) => bearer(t, `${b64url(t.header({ alg: 'none ' }))}.${b64url(t.claims())}.`), expect: invalidToken('algorithm_not_allowed') },
  { category: 'alg none', name: 'alg missing', send: (t) => bearer(t, sign(t, without(t.header(), 'alg'), t.claims())), expect: invalidToken('token_malformed') },
  { category: 'alg none', name: 'alg as an array', send: (t) => bearer(t, sign(t, t.header({ alg: [t.alg] }), t.claims())), expect: invalidToken('token_malformed') },
  { category: 'alg none', name: 'alg empty', send: (t) => bearer(t, `${b64url(t.header({ alg: '' }))}.${b64url(t.claims())}.`), expect: invalidToken('algorithm_not_allowed') },
  { category: 'alg none', name: 'alg "none" on the RS256 demo', on: 'RS256', send: (t) => bearer(t, `${b64url(t.header({ alg: 'none' }))}.${b64url(t.claims())}.`), expect: invalidToken('algorithm_not_allowed') },

  // HS256 "signed" with the public key (CVE-2015-9235, CVE-2016-5431): the key material an attacker can get.
  ...(['ES256', 'RS256'] as const).flatMap((on): AttackCase[] => [
    { category: 'algorithm confusion', on, name: `HS256 with the ${on} public key PEM (SPKI) as the secret`, send: (t) => bearer(t, hmac('HS256', t.header({ alg: 'HS256' }), t.claims(), publicPem(t.privateKey))), expect: invalidToken('algorithm_not_allowed') },
    { category: 'algorithm confusion', on, name: `HS256 with the ${on} public key PEM without its final newline`, send: (t) => bearer(t, hmac('HS256', t.header({ alg: 'HS256' }), t.claims(), publicPem(t.privateKey).trimEnd())), expect: invalidToken('algorithm_not_allowed') },
    { category: 'algorithm confusion', on, name: `HS256 with the ${on} public key DER as the secret`, send: (t) => bearer(t, hmac('HS256', t.header({ alg: 'HS256' }), t.claims(), createPublicKey(t.privateKey).export({ format: 'der', type: 'spki' }))), expect: invalidToken('algorithm_not_allowed') },
    {
      category: 'algorithm confusion',
      on,
      name: `HS256 with the ${on} public JWK (as published) as the secret`,
      send: (t) => bearer(t, hmac('HS256', t.header({ alg: 'HS256' }), t.claims(), JSON.stringify({ ...publicJwk(t.privateKey), kid: t.kid, alg: t.alg, use: 'sig' }))),
      expect: invalidToken('algorithm_not_allowed'),
    },
    { category: 'algorithm confusion', on, name: `HS512 with the ${on} public key PEM`, send: (t) => bearer(t, hmac('HS512', t.header({ alg: 'HS512' }), t.claims(), publicPem(t.privateKey))), expect: invalidToken('algorithm_not_allowed') },
  ]),
  {
    category: 'algorithm confusion',
    on: 'RS256',
    name: 'HS256 with the RS256 public key as PKCS#1 PEM',
    send: (t) => bearer(t, hmac('HS256', t.header({ alg: 'HS256' }), t.claims(), createPublicKey(t.privateKey).export({ format: 'pem', type: 'pkcs1' }))),
    expect: invalidToken('algorithm_not_allowed'),
  },
  { category: 'algorithm confusion', on: 'RS256', name: "PS256 signed by the demo's own RS256 key (not on the key's allow-list)", send: (t) => bearer(t, ps256(t.header({ alg: 'PS256' }), t.claims(), t.privateKey)), expect: invalidToken('algorithm_not_allowed') },
  { category: 'algorithm confusion', on: 'RS256', name: 'ES256 by an attacker key under the RS256 kid', send: (t) => bearer(t, signJws(t.header({ alg: 'ES256' }), t.claims(), ecKey(), 'ES256')), expect: invalidToken('algorithm_not_allowed') },
  { category: 'algorithm confusion', name: 'ES384 on the ES256 key', send: (t) => bearer(t, signJws(t.header({ alg: 'ES384' }), t.claims(), t.privateKey, 'ES256')), expect: invalidToken('algorithm_not_allowed') },
  { category: 'algorithm confusion', name: 'RS256 by an attacker key under the ES256 kid', send: (t) => bearer(t, signJws(t.header({ alg: 'RS256' }), t.claims(), rsaKey(), 'RS256')), expect: invalidToken('algorithm_not_allowed') },
  { category: 'algorithm confusion', name: 'EdDSA under the ES256 kid', send: (t) => bearer(t, signJws(t.header({ alg: 'EdDSA' }), t.claims(), t.privateKey, 'ES256')), expect: invalidToken('algorithm_not_allowed') },

  // Signatures: stripped, empty, psychic (CVE-2022-21449), malformed, borrowed, and the high-S twin.
  { category: 'signature', name: 'signature stripped (empty third segment)', send: (t) => bearer(t, withSignature(t.alice.access, '')), expect: invalidToken('signature_invalid') },
  { category: 'signature', name: 'third segment removed', send: (t) => bearer(t, segments(t.alice.access).slice(0, 2).join('.')), expect: invalidToken('token_malformed') },
  { category: 'signature', name: 'psychic signature: r = s = 0 (64 zero bytes, CVE-2022-21449)', send: (t) => bearer(t, withSignature(forged(t, {}, { sub: 'admin', roles: ['admin'] }), Buffer.alloc(64))), expect: invalidToken('signature_invalid') },
  { category: 'signature', name: 'psychic signature: r = s = n (≡ 0 mod n)', send: (t) => bearer(t, withSignature(forged(t, {}, { sub: 'admin', roles: ['admin'] }), ecdsaSignature(P256_ORDER, P256_ORDER))), expect: invalidToken('signature_invalid') },
  { category: 'signature', name: 'r = 0 with a genuine s', send: (t) => bearer(t, withSignature(t.alice.access, ecdsaSignature(0n, ecdsaParts(t.alice.access).s))), expect: invalidToken('signature_invalid') },
  { category: 'signature', name: 'r = n (out of range) with a genuine s', send: (t) => bearer(t, withSignature(t.alice.access, ecdsaSignature(P256_ORDER, ecdsaParts(t.alice.access).s))), expect: invalidToken('signature_invalid') },
  { category: 'signature', name: 'ECDSA signature DER-encoded instead of r||s', send: (t) => bearer(t, derSignedJws(t.header(), t.claims(), t.privateKey)), expect: invalidToken('signature_invalid') },
  { category: 'signature', name: 'signature truncated to 63 bytes', send: (t) => bearer(t, withSignature(t.alice.access, Buffer.from(segments(t.alice.access)[2], 'base64url').subarray(0, 63))), expect: invalidToken('signature_invalid') },
  { category: 'signature', name: 'signature with a 65th byte', send: (t) => bearer(t, withSignature(t.alice.access, Buffer.concat([Buffer.from(segments(t.alice.access)[2], 'base64url'), Buffer.alloc(1)]))), expect: invalidToken('signature_invalid') },
  { category: 'signature', name: "another genuine token's signature", send: (t) => bearer(t, withSignature(forged(t), segments(t.alice.access)[2])), expect: invalidToken('signature_invalid') },
  { category: 'signature', name: "payload swapped to admin under alice's genuine signature", send: (t) => bearer(t, payloadSwapped(t, t.claims({ sub: 'admin', roles: ['admin'] }))), expect: invalidToken('signature_invalid') },
  { category: 'signature', name: "signed by an attacker key under the demo's kid", send: (t) => bearer(t, signJws(t.header(), t.claims({ sub: 'admin', roles: ['admin'] }), ecKey(), 'ES256')), expect: invalidToken('signature_invalid') },
  { category: 'signature', name: "signed by an attacker key under the RS256 demo's kid", on: 'RS256', send: (t) => bearer(t, signJws(t.header(), t.claims({ sub: 'admin', roles: ['admin'] }), rsaKey(), 'RS256')), expect: invalidToken('signature_invalid') },
  {
    // ECDSA is malleable: (r, n - s) verifies too. JWS does not ask for low-S, and nothing in jwt-defense is keyed
    // on the signature (revocation on jti, the verified-token cache on the whole token after verification), so the
    // twin is the same token: accepted, and counted exactly like the genuine one.
    category: 'signature',
    name: "the high-S twin of alice's genuine signature (s' = n - s)",
    send: (t) => bearerAsAlice(t, `Bearer ${highSTwin(t.alice.access)}`),
    expect: ACCEPTED,
  },

  // Header parameters that name a key or ask for processing: refused by name, never followed.
  { category: 'header injection', name: "jwk: the attacker's public key embedded, signed by it", send: (t) => { const k = ecKey(); return bearer(t, signJws(t.header({ jwk: publicJwk(k) }), t.claims({ sub: 'admin', roles: ['admin'] }), k, 'ES256')); }, expect: invalidToken('token_malformed') },
  { category: 'header injection', name: 'jwk embedded without a kid', send: (t) => { const k = ecKey(); return bearer(t, signJws(without(t.header({ jwk: publicJwk(k) }), 'kid'), t.claims(), k, 'ES256')); }, expect: invalidToken('token_malformed') },
  { category: 'header injection', name: 'jwk: the demo\'s own public key embedded (genuinely signed)', send: (t) => bearer(t, forged(t, { jwk: publicJwk(t.privateKey) })), expect: invalidToken('token_malformed') },
  { category: 'header injection', name: 'jku pointing at a loopback listener, attacker-signed', send: (t) => bearer(t, signJws(t.header({ jku: t.tripwire.url('/jwks.json') }), t.claims(), ecKey(), 'ES256')), expect: invalidToken('token_malformed') },
  { category: 'header injection', name: 'jku (http) on a genuinely signed token', send: (t) => bearer(t, forged(t, { jku: t.tripwire.url('/.well-known/jwks.json', 'http') })), expect: invalidToken('token_malformed') },
  { category: 'header injection', name: 'x5u pointing at a loopback listener', send: (t) => bearer(t, signJws(t.header({ x5u: t.tripwire.url('/cert.pem') }), t.claims(), ecKey(), 'ES256')), expect: invalidToken('token_malformed') },
  { category: 'header injection', name: "x5c: an attacker's self-signed certificate", send: (t) => bearer(t, signJws(t.header({ x5c: [t.attackerCertificate] }), t.claims(), ecKey(), 'ES256')), expect: invalidToken('token_malformed') },
  { category: 'header injection', name: 'x5t#S256 on our own token', send: (t) => bearer(t, forged(t, { 'x5t#S256': b64url(Buffer.alloc(32, 1)) })), expect: invalidToken('token_malformed') },
  { category: 'header injection', name: 'crit: ["exp"]', send: (t) => bearer(t, forged(t, { crit: ['exp'] })), expect: invalidToken('token_malformed') },
  { category: 'header injection', name: 'crit: [] (empty)', send: (t) => bearer(t, forged(t, { crit: [] })), expect: invalidToken('token_malformed') },
  { category: 'header injection', name: 'b64: false with crit ["b64"] (RFC 7797 unencoded payload)', send: (t) => { const h = t.header({ b64: false, crit: ['b64'] }); const p = JSON.stringify(t.claims()); const s = cryptoSign('sha256', Buffer.from(`${b64url(h)}.${p}`), { key: t.privateKey, dsaEncoding: 'ieee-p1363' }); return bearer(t, `${b64url(h)}.${b64url(p)}.${s.toString('base64url')}`); }, expect: invalidToken('token_malformed') },
  { category: 'header injection', name: 'b64: false alone', send: (t) => bearer(t, forged(t, { b64: false })), expect: invalidToken('token_malformed') },
  { category: 'header injection', name: 'zip: DEF (compressed payload)', send: (t) => bearer(t, forged(t, { zip: 'DEF' })), expect: invalidToken('token_malformed') },
  { category: 'header injection', name: 'typ JWT instead of at+jwt', send: (t) => bearer(t, forged(t, { typ: 'JWT' })), expect: invalidToken('claim_invalid') },
  { category: 'header injection', name: 'typ dpop+jwt (a proof as an access token)', send: (t) => bearer(t, forged(t, { typ: 'dpop+jwt' })), expect: invalidToken('claim_invalid') },
  { category: 'header injection', name: 'typ missing', send: (t) => bearer(t, sign(t, without(t.header(), 'typ'), t.claims())), expect: invalidToken('claim_invalid') },

  // kid: matched against the key ring only, never used as a path, a query or a header.
  { category: 'kid injection', name: 'kid path traversal ../../../../dev/null', send: (t) => bearer(t, forged(t, { kid: '../../../../dev/null' })), expect: invalidToken('token_malformed') },
  // The classic form: HS256 "signed" with the empty content of /dev/null. Refused on alg before kid is read.
  { category: 'kid injection', name: 'kid ../../../../dev/null with HS256 and an empty secret', send: (t) => bearer(t, hmac('HS256', t.header({ alg: 'HS256', kid: '../../../../dev/null' }), t.claims(), '')), expect: invalidToken('algorithm_not_allowed') },
  { category: 'kid injection', name: 'kid absolute path /proc/self/environ', send: (t) => bearer(t, forged(t, { kid: '/proc/self/environ' })), expect: invalidToken('token_malformed') },
  { category: 'kid injection', name: "kid SQL: ' OR '1'='1", send: (t) => bearer(t, forged(t, { kid: "' OR '1'='1" })), expect: invalidToken('token_malformed') },
  { category: 'kid injection', name: "kid SQL: x' UNION SELECT 'secret' --", send: (t) => bearer(t, forged(t, { kid: "x' UNION SELECT 'secret' --" })), expect: invalidToken('token_malformed') },
  { category: 'kid injection', name: "kid SQL UNION with HS256 signed by the selected 'secret'", send: (t) => bearer(t, hmac('HS256', t.header({ alg: 'HS256', kid: "x' UNION SELECT 'secret' --" }), t.claims(), 'secret')), expect: invalidToken('algorithm_not_allowed') },
  { category: 'kid injection', name: 'kid with CR/LF (header injection)', send: (t) => bearer(t, forged(t, { kid: `${t.kid}\r\nX-Injected: 1` })), expect: invalidToken('token_malformed') },
  { category: 'kid injection', name: 'kid with a NUL byte after the real kid', send: (t) => bearer(t, forged(t, { kid: `${t.kid}\u0000` })), expect: invalidToken('token_malformed') },
  { category: 'kid injection', name: 'kid of 65 allowed characters', send: (t) => bearer(t, forged(t, { kid: 'k'.repeat(65) })), expect: invalidToken('token_malformed') },
  { category: 'kid injection', name: 'kid of 5000 characters', send: (t) => bearer(t, forged(t, { kid: 'k'.repeat(5000) })), expect: invalidToken('token_malformed') },
  { category: 'kid injection', name: 'kid as a number', send: (t) => bearer(t, forged(t, { kid: 1 })), expect: invalidToken('token_malformed') },
  { category: 'kid injection', name: 'kid as an object ({"$ne": null})', send: (t) => bearer(t, forged(t, { kid: { $ne: null } })), expect: invalidToken('token_malformed') },
  { category: 'kid injection', name: 'kid empty', send: (t) => bearer(t, forged(t, { kid: '' })), expect: invalidToken('token_malformed') },
  { category: 'kid injection', name: 'kid missing', send: (t) => bearer(t, sign(t, without(t.header(), 'kid'), t.claims())), expect: invalidToken('token_malformed') },
  { category: 'kid injection', name: 'kid unknown (well-formed)', send: (t) => bearer(t, forged(t, { kid: 'another-key-2026' })), expect: invalidToken('signature_invalid') },
  { category: 'kid injection', name: "kid of the demo in upper case (another key's name)", send: (t) => bearer(t, forged(t, { kid: t.kid.toUpperCase() === t.kid ? `${t.kid}x` : t.kid.toUpperCase() })), expect: invalidToken('signature_invalid') },

  // Claims: every one wrong in turn, signed with the demo's own key.
  { category: 'claims', name: 'expired (exp 100 s ago, beyond the 30 s tolerance)', send: (t) => bearer(t, forged(t, {}, { iat: t.nowSec() - 400, exp: t.nowSec() - 100 })), expect: invalidToken('token_expired') },
  { category: 'claims', name: 'nbf 2 minutes ahead', send: (t) => bearer(t, forged(t, {}, { nbf: t.nowSec() + 120 })), expect: invalidToken('token_not_yet_valid') },
  { category: 'claims', name: 'iat 2 minutes ahead', send: (t) => bearer(t, forged(t, {}, { iat: t.nowSec() + 120, exp: t.nowSec() + 300 })), expect: invalidToken('token_not_yet_valid') },
  { category: 'claims', name: 'exp 1e400 (JSON number overflow → Infinity)', send: (t) => bearer(t, sign(t, t.header(), JSON.stringify(t.claims()).replace(/"exp":\d+/, '"exp":1e400'))), expect: invalidToken('claim_invalid') },
  { category: 'claims', name: 'iat -1e400 (→ -Infinity)', send: (t) => bearer(t, sign(t, t.header(), JSON.stringify(t.claims()).replace(/"iat":\d+/, '"iat":-1e400'))), expect: invalidToken('claim_invalid') },
  { category: 'claims', name: 'exp 1e300 (finite, far future)', send: (t) => bearer(t, forged(t, {}, { exp: 1e300 })), expect: invalidToken('claim_invalid') },
  { category: 'claims', name: 'exp as a string', send: (t) => bearer(t, forged(t, {}, { exp: String(t.nowSec() + 300) })), expect: invalidToken('claim_invalid') },
  { category: 'claims', name: 'exp as true', send: (t) => bearer(t, forged(t, {}, { exp: true })), expect: invalidToken('claim_invalid') },
  { category: 'claims', name: 'exp negative', send: (t) => bearer(t, forged(t, {}, { iat: -400, exp: -100 })), expect: invalidToken('claim_invalid') },
  { category: 'claims', name: 'exp equal to iat', send: (t) => bearer(t, forged(t, {}, { exp: t.nowSec() })), expect: invalidToken('claim_invalid') },
  { category: 'claims', name: 'lifetime of an hour (over the 900 s maximum)', send: (t) => bearer(t, forged(t, {}, { exp: t.nowSec() + 3600 })), expect: invalidToken('claim_invalid') },
  { category: 'claims', name: 'nbf as a string', send: (t) => bearer(t, forged(t, {}, { nbf: 'now' })), expect: invalidToken('claim_invalid') },
  { category: 'claims', name: 'iat null', send: (t) => bearer(t, forged(t, {}, { iat: null })), expect: invalidToken('claim_invalid') },
  { category: 'claims', name: 'sub as a number', send: (t) => bearer(t, forged(t, {}, { sub: 42 })), expect: invalidToken('claim_invalid') },
  { category: 'claims', name: 'sub empty', send: (t) => bearer(t, forged(t, {}, { sub: '' })), expect: invalidToken('claim_invalid') },
  { category: 'claims', name: 'sub of 256 characters', send: (t) => bearer(t, forged(t, {}, { sub: 'a'.repeat(256) })), expect: invalidToken('claim_invalid') },
  { category: 'claims', name: 'jti missing', send: (t) => bearer(t, sign(t, t.header(), without(t.claims(), 'jti'))), expect: invalidToken('claim_invalid') },
  { category: 'claims', name: 'jti as a number', send: (t) => bearer(t, forged(t, {}, { jti: 7 })), expect: invalidToken('claim_invalid') },
  { category: 'claims', name: 'iss of another issuer (token substitution)', send: (t) => bearer(t, forged(t, {}, { iss: 'https://evil.example' })), expect: invalidToken('claim_invalid') },
  { category: 'claims', name: 'iss as an array', send: (t) => bearer(t, forged(t, {}, { iss: ['jwt-defense-demo'] })), expect: invalidToken('claim_invalid') },
  { category: 'claims', name: "aud of another API (token substitution)", send: (t) => bearer(t, forged(t, {}, { aud: 'billing-api' })), expect: invalidToken('claim_invalid') },
  { category: 'claims', name: 'aud empty array', send: (t) => bearer(t, forged(t, {}, { aud: [] })), expect: invalidToken('claim_invalid') },
  { category: 'claims', name: 'aud as a number', send: (t) => bearer(t, forged(t, {}, { aud: 1 })), expect: invalidToken('claim_invalid') },
  { category: 'claims', name: 'roles as a string', send: (t) => bearer(t, forged(t, {}, { roles: 'admin' })), expect: invalidToken('claim_invalid') },
  { category: 'claims', name: 'roles with a number', send: (t) => bearer(t, forged(t, {}, { roles: ['user', 1] })), expect: invalidToken('claim_invalid') },
  { category: 'claims', name: 'scope as an array', send: (t) => bearer(t, forged(t, {}, { scope: ['admin'] })), expect: invalidToken('claim_invalid') },
  { category: 'claims', name: 'sid as a number', send: (t) => bearer(t, forged(t, {}, { sid: 5 })), expect: invalidToken('claim_invalid') },
  { category: 'claims', name: 'auth_time after iat', send: (t) => bearer(t, forged(t, {}, { auth_time: t.nowSec() + 10 })), expect: invalidToken('claim_invalid') },
  { category: 'claims', name: 'cnf without a well-formed jkt', send: (t) => bearer(t, forged(t, {}, { cnf: { jkt: 'short' } })), expect: invalidToken('claim_invalid') },

  // Duplicate member names: two parsers, two meanings (RFC 7515 §4, RFC 8725 §3.12 by way of RFC 8259 §4).
  { category: 'duplicate members', name: 'header: alg ES256 then none', send: (t) => bearer(t, sign(t, `${JSON.stringify(t.header()).slice(0, -1)},"alg":"none"}`, t.claims())), expect: invalidToken('token_malformed') },
  { category: 'duplicate members', name: 'header: alg none then ES256', send: (t) => bearer(t, sign(t, `{"alg":"none",${JSON.stringify(t.header()).slice(1)}`, t.claims())), expect: invalidToken('token_malformed') },
  { category: 'duplicate members', name: 'header: kid twice', send: (t) => bearer(t, sign(t, `${JSON.stringify(t.header()).slice(0, -1)},"kid":"other"}`, t.claims())), expect: invalidToken('token_malformed') },
  { category: 'duplicate members', name: 'header: escaped duplicate name "\\u0061lg"', send: (t) => bearer(t, sign(t, `${JSON.stringify(t.header()).slice(0, -1)},"\\u0061lg":"none"}`, t.claims())), expect: invalidToken('token_malformed') },
  { category: 'duplicate members', name: 'payload: sub admin then alice', send: (t) => bearer(t, sign(t, t.header(), `{"sub":"admin",${JSON.stringify(t.claims()).slice(1)}`)), expect: invalidToken('token_malformed') },
  { category: 'duplicate members', name: 'payload: escaped duplicate "s\\u0075b"', send: (t) => bearer(t, sign(t, t.header(), `${JSON.stringify(t.claims()).slice(0, -1)},"s\\u0075b":"admin"}`)), expect: invalidToken('token_malformed') },
  { category: 'duplicate members', name: 'payload: exp twice', send: (t) => bearer(t, sign(t, t.header(), `${JSON.stringify(t.claims()).slice(0, -1)},"exp":99999999999}`)), expect: invalidToken('token_malformed') },
  { category: 'duplicate members', name: 'payload: roles twice', send: (t) => bearer(t, sign(t, t.header(), `${JSON.stringify(t.claims()).slice(0, -1)},"roles":["admin"]}`)), expect: invalidToken('token_malformed') },
  { category: 'duplicate members', name: 'payload: a duplicate inside a nested object (cnf)', send: (t) => bearer(t, sign(t, t.header(), `${JSON.stringify(t.claims()).slice(0, -1)},"cnf":{"jkt":"${'A'.repeat(43)}","jkt":"${'B'.repeat(43)}"}}`)), expect: invalidToken('token_malformed') },

  // base64url: one spelling per token.
  { category: 'base64url', name: 'padding (=) on the payload', send: (t) => { const [h, p, s] = segments(t.alice.access); return bearer(t, `${h}.${p}${'='.repeat((4 - (p.length % 4)) % 4 || 1)}.${s}`); }, expect: invalidToken('token_malformed') },
  { category: 'base64url', name: 'padding (=) on the signature', send: (t) => bearer(t, `${t.alice.access}==`), expect: invalidToken('token_malformed') },
  {
    category: 'base64url',
    name: 'standard base64 alphabet (+ or /) in a genuinely signed header',
    send: (t) => {
      // A header whose base64 has a + or /: the same bytes, spelled with the other alphabet, genuinely signed.
      for (let n = 0; ; n++) {
        const header = JSON.stringify(t.header({ n: '?>'.repeat(n) }));
        const standard = Buffer.from(header).toString('base64').replace(/=+$/, '');
        if (/[+/]/.test(standard)) {
          const [, payload, signature] = segments(sign(t, header, t.claims()));
          return bearer(t, `${standard}.${payload}.${signature}`);
        }
      }
    },
    expect: invalidToken('token_malformed'),
  },
  { category: 'base64url', name: 'non-zero trailing bits in the header', send: (t) => { const token = forged(t, { x: 'ab' }); const [h, p, s] = segments(token); return bearer(t, `${h.length % 4 ? respell(h) : h}.${p}.${s}`); }, expect: invalidToken('token_malformed') },
  { category: 'base64url', name: 'non-zero trailing bits in the payload', send: (t) => { for (let pad = ''; ; pad += 'x') { const [h, p, s] = segments(forged(t, {}, { pad })); if (p.length % 4) return bearer(t, `${h}.${respell(p)}.${s}`); } }, expect: invalidToken('token_malformed') },
  { category: 'base64url', name: 'non-zero trailing bits in the signature', send: (t) => { const [h, p, s] = segments(t.alice.access); return bearer(t, `${h}.${p}.${respell(s)}`); }, expect: invalidToken('token_malformed') },
  { category: 'base64url', name: 'a segment of length 4k+1', send: (t) => { const [h, p] = segments(t.alice.access); return bearer(t, `${h}.${p}.${'A'.repeat(85)}`); }, expect: invalidToken('token_malformed') },
  { category: 'base64url', name: 'empty header segment', send: (t) => { const [, p, s] = segments(t.alice.access); return bearer(t, `.${p}.${s}`); }, expect: invalidToken('token_malformed') },
  { category: 'base64url', name: 'header that is JSON but not an object', send: (t) => bearer(t, sign(t, '["ES256"]', t.claims())), expect: invalidToken('token_malformed') },
  { category: 'base64url', name: 'payload that is not JSON', send: (t) => bearer(t, sign(t, t.header(), 'alice')), expect: invalidToken('token_malformed') },

  // Invalid UTF-8 inside a validly signed header or payload: decoded strictly, never replaced by U+FFFD.
  ...INVALID_UTF8.map(([name, bytes, where]): AttackCase => ({
    category: 'utf-8',
    name: `${name} in the signed ${where}`,
    send: (t) =>
      bearer(t, where === 'header' ? sign(t, withBytesInside(JSON.stringify(t.header({ note: 'x' })), bytes), t.claims()) : sign(t, t.header(), withBytesInside(JSON.stringify(t.claims({ name: 'x' })), bytes))),
    expect: invalidToken('token_malformed'),
  })),
  { category: 'utf-8', name: 'a UTF-8 BOM before the payload JSON', send: (t) => bearer(t, sign(t, t.header(), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(t.claims()))]))), expect: invalidToken('token_malformed') },

  // Size: the cap is on the token, before any parsing; Node's own header limit is the last word.
  { category: 'size', name: 'token of 8193 bytes (one over the cap)', send: (t) => { const base = forged(t, {}, { pad: '' }); return bearer(t, forged(t, {}, { pad: 'x'.repeat(Math.ceil(((8193 - base.length) * 3) / 4) + 2) })); }, expect: invalidToken('token_malformed') },
  { category: 'size', name: 'token of 12 KB', send: (t) => bearer(t, forged(t, {}, { pad: 'x'.repeat(9000) })), expect: invalidToken('token_malformed') },
  { category: 'size', name: 'Authorization header of 15 KB (under the HTTP parser limit)', send: (t) => bearer(t, 'A'.repeat(15_000)), expect: invalidToken('token_malformed') },
  { category: 'size', name: 'a header 2500 levels deep (within the cap), attacker-signed', send: (t) => bearer(t, signJws(`${JSON.stringify(t.header()).slice(0, -1)},"x":${'['.repeat(2500)}${']'.repeat(2500)}}`, t.claims(), ecKey(), 'ES256')), expect: invalidToken('signature_invalid') },
  { category: 'size', name: 'a payload of 600 members (within the cap), attacker-signed', send: (t) => bearer(t, signJws(t.header(), t.claims(Object.fromEntries(Array.from({ length: 600 }, (_, i) => [i.toString(36), 0]))), ecKey(), 'ES256')), expect: invalidToken('signature_invalid') },

  // The Authorization header itself.
  { category: 'bearer syntax', name: 'lower-case scheme with a forged token', send: (t) => authorization(t, `bearer ${b64url(t.header({ alg: 'none' }))}.${b64url(t.claims())}.`), expect: invalidToken('algorithm_not_allowed') },
  { category: 'bearer syntax', name: 'lower-case scheme with a genuine token (RFC 7235: case-insensitive)', send: (t) => bearerAsAlice(t, `bearer ${t.alice.access}`), expect: ACCEPTED },
  { category: 'bearer syntax', name: 'two spaces after the scheme', send: (t) => authorization(t, `Bearer  ${t.alice.access}`), expect: invalidToken('token_malformed') },
  { category: 'bearer syntax', name: 'a tab after the scheme', send: (t) => authorization(t, `Bearer\t${t.alice.access}`), expect: invalidToken('token_malformed') },
  { category: 'bearer syntax', name: 'the scheme and no token', send: (t) => authorization(t, 'Bearer'), expect: invalidToken('token_malformed') },
  { category: 'bearer syntax', name: '"Bearer" twice', send: (t) => authorization(t, `Bearer Bearer ${t.alice.access}`), expect: invalidToken('token_malformed') },
  { category: 'bearer syntax', name: 'a genuine token followed by a comma and a forged one', send: (t) => authorization(t, `Bearer ${t.alice.access}, Bearer ${forged(t, {}, { sub: 'admin' })}`), expect: invalidToken('token_malformed') },
  { category: 'bearer syntax', name: 'the token without a scheme', send: (t) => authorization(t, t.alice.access), expect: MISSING },
  { category: 'bearer syntax', name: 'Basic credentials', send: (t) => authorization(t, `Basic ${Buffer.from('alice:alice-password').toString('base64')}`), expect: MISSING },
  { category: 'bearer syntax', name: 'an empty Authorization header', send: (t) => authorization(t, ''), expect: MISSING },
  { category: 'bearer syntax', name: 'two Authorization headers (both genuine)', send: (t) => authorization(t, [`Bearer ${t.alice.access}`, `Bearer ${t.alice.access}`]), expect: INVALID_REQUEST },
  { category: 'bearer syntax', name: 'two Authorization headers (forged admin, then genuine)', send: (t) => authorization(t, [`Bearer ${forged(t, { alg: 'none' }, { sub: 'admin' })}`, `Bearer ${t.alice.access}`]), expect: INVALID_REQUEST },

  // Tokens in the URL (RFC 6750 §2.3 is not supported: URLs end up in logs and Referer headers).
  { category: 'token in the URL', name: '?access_token=<genuine> alone', send: (t) => ({ req: t.attacker('get', `/me?access_token=${t.alice.access}`), secret: t.alice.access }), expect: INVALID_REQUEST },
  { category: 'token in the URL', name: '?access_token=<genuine> beside a genuine header', send: (t) => ({ req: t.attacker('get', `/me?access_token=${t.alice.access}`).set('Authorization', `Bearer ${t.alice.access}`), secret: t.alice.access }), expect: INVALID_REQUEST },
  { category: 'token in the URL', name: '?access%5Ftoken= (percent-encoded name)', send: (t) => ({ req: t.attacker('get', `/me?access%5Ftoken=${t.alice.access}`), secret: t.alice.access }), expect: INVALID_REQUEST },
  { category: 'token in the URL', name: '?x=1&access_token= (empty, later in the query)', send: (t) => ({ req: t.attacker('get', '/me?x=1&access_token=').set('Authorization', `Bearer ${t.alice.access}`), secret: t.alice.access }), expect: INVALID_REQUEST },
  { category: 'token in the URL', name: 'access_token in a form body (RFC 6750 §2.2: not supported)', send: (t) => ({ req: t.attacker('post', '/auth/logout').type('form').send(`access_token=${t.alice.access}`), secret: t.alice.access }), expect: MISSING },
  { category: 'token in the URL', name: 'access_token in a JSON body', send: (t) => ({ req: t.attacker('post', '/auth/logout').send({ access_token: t.alice.access }), secret: t.alice.access }), expect: MISSING },

  // JWE (five segments): not decrypted, not confused with a JWS.
  { category: 'jwe', name: 'a JWE (RSA-OAEP-256, A256GCM)', send: (t) => bearer(t, jweLike()), expect: invalidToken('token_malformed') },
  { category: 'jwe', name: 'a JWE with alg dir and our kid', send: (t) => bearer(t, jweLike({ alg: 'dir', enc: 'A128CBC-HS256', kid: t.kid })), expect: invalidToken('token_malformed') },
  { category: 'jwe', name: 'a JWE header (enc) in a three-segment token', send: (t) => bearer(t, forged(t, { enc: 'A256GCM' })), expect: invalidToken('token_malformed') },
  { category: 'jwe', name: 'six segments', send: (t) => bearer(t, `${jweLike()}.AAAA`), expect: invalidToken('token_malformed') },

  // DPoP (RFC 9449): alice's bound token with proofs wrong in every way.
  { category: 'dpop', name: 'bound token, no proof', send: (t) => dpopRequest(t, t.bound.access, undefined), expect: dpopRefused() },
  { category: 'dpop', name: 'bound token as Bearer, with a valid proof', send: (t) => dpopRequest(t, t.bound.access, t.proof(t.bound.access), 'Bearer'), expect: dpopRefused('invalid_token') },
  { category: 'dpop', name: 'bound token as Bearer, no proof', send: (t) => dpopRequest(t, t.bound.access, undefined, 'Bearer'), expect: dpopRefused('invalid_token') },
  { category: 'dpop', name: 'an unbound token with the DPoP scheme and a proof', send: (t) => dpopRequest(t, t.alice.access, t.proof(t.alice.access)), expect: dpopRefused('invalid_token') },
  { category: 'dpop', name: 'proof typ JWT', send: (t) => dpopRequest(t, t.bound.access, handProof({ key: t.dpopKey, htm: 'GET', htu: `${ORIGIN}/me`, accessToken: t.bound.access, header: { typ: 'JWT' } })), expect: dpopRefused() },
  { category: 'dpop', name: 'proof without typ', send: (t) => dpopRequest(t, t.bound.access, handProof({ key: t.dpopKey, htm: 'GET', htu: `${ORIGIN}/me`, accessToken: t.bound.access, header: { typ: undefined } })), expect: dpopRefused() },
  { category: 'dpop', name: 'proof with the private key in its jwk (d)', send: (t) => dpopRequest(t, t.bound.access, handProof({ key: t.dpopKey, htm: 'GET', htu: `${ORIGIN}/me`, accessToken: t.bound.access, header: { jwk: t.dpopKey.export({ format: 'jwk' }) } })), expect: dpopRefused() },
  {
    category: 'dpop',
    name: 'proof HS256 with a symmetric jwk',
    send: (t) => dpopRequest(t, t.bound.access, handProof({ key: t.dpopKey, htm: 'GET', htu: `${ORIGIN}/me`, accessToken: t.bound.access, header: { alg: 'HS256', jwk: { kty: 'oct', k: b64url('k'.repeat(32)) } }, sign: (h, p) => hmac('HS256', h, p, 'k'.repeat(32)) })),
    expect: dpopRefused(),
  },
  { category: 'dpop', name: 'proof alg none', send: (t) => dpopRequest(t, t.bound.access, handProof({ key: t.dpopKey, htm: 'GET', htu: `${ORIGIN}/me`, accessToken: t.bound.access, header: { alg: 'none' }, sign: (h, p) => `${b64url(h)}.${b64url(p)}.` })), expect: dpopRefused() },
  { category: 'dpop', name: 'proof alg RS256 over an EC jwk', send: (t) => dpopRequest(t, t.bound.access, handProof({ key: t.dpopKey, htm: 'GET', htu: `${ORIGIN}/me`, accessToken: t.bound.access, header: { alg: 'RS256' } })), expect: dpopRefused() },
  { category: 'dpop', name: 'proof for another method (POST)', send: (t) => dpopRequest(t, t.bound.access, t.proof(t.bound.access, { htm: 'POST' })), expect: dpopRefused() },
  { category: 'dpop', name: 'proof for another path', send: (t) => dpopRequest(t, t.bound.access, t.proof(t.bound.access, { path: '/admin/security-events' })), expect: dpopRefused() },
  { category: 'dpop', name: 'proof for another host', send: (t) => dpopRequest(t, t.bound.access, handProof({ key: t.dpopKey, htm: 'GET', htu: 'https://evil.example/me', accessToken: t.bound.access })), expect: dpopRefused() },
  { category: 'dpop', name: 'proof for http instead of https', send: (t) => dpopRequest(t, t.bound.access, handProof({ key: t.dpopKey, htm: 'GET', htu: `${ORIGIN.replace('https', 'http')}/me`, accessToken: t.bound.access })), expect: dpopRefused() },
  { category: 'dpop', name: 'stale proof (iat 5 minutes ago)', send: (t) => dpopRequest(t, t.bound.access, t.proof(t.bound.access, { iat: t.nowSec() - 300 })), expect: dpopRefused() },
  { category: 'dpop', name: 'proof from the future (iat in 5 minutes)', send: (t) => dpopRequest(t, t.bound.access, t.proof(t.bound.access, { iat: t.nowSec() + 300 })), expect: dpopRefused() },
  { category: 'dpop', name: 'proof iat as a string', send: (t) => dpopRequest(t, t.bound.access, handProof({ key: t.dpopKey, htm: 'GET', htu: `${ORIGIN}/me`, accessToken: t.bound.access, payload: { iat: String(t.nowSec()) } })), expect: dpopRefused() },
  { category: 'dpop', name: 'proof without ath', send: (t) => dpopRequest(t, t.bound.access, t.proof(undefined)), expect: dpopRefused() },
  { category: 'dpop', name: 'proof with the ath of another token', send: (t) => dpopRequest(t, t.bound.access, t.proof(t.alice.access)), expect: dpopRefused() },
  { category: 'dpop', name: 'proof by another key than cnf.jkt', send: (t) => dpopRequest(t, t.bound.access, t.proof(t.bound.access, { key: ecKey() })), expect: dpopRefused() },
  { category: 'dpop', name: "proof whose jwk is not the signer's", send: (t) => dpopRequest(t, t.bound.access, handProof({ key: t.dpopKey, signer: ecKey(), htm: 'GET', htu: `${ORIGIN}/me`, accessToken: t.bound.access })), expect: dpopRefused() },
  {
    category: 'dpop',
    name: 'replayed proof (its jti used once already)',
    prepare: async (t) => {
      const proof = t.proof(t.bound.access);
      const first = await t.attacker('get', '/me').set('X-Device-Id', 'alice-laptop').set('Authorization', `DPoP ${t.bound.access}`).set('DPoP', proof);
      if (first.status !== 200) throw new Error(`first use of the proof: ${first.status}`);
      return { proof };
    },
    send: (t, { proof }) => dpopRequest(t, t.bound.access, proof),
    expect: dpopRefused(),
  },
  { category: 'dpop', name: 'proof with jku (loopback listener) beside its jwk', send: (t) => dpopRequest(t, t.bound.access, handProof({ key: t.dpopKey, htm: 'GET', htu: `${ORIGIN}/me`, accessToken: t.bound.access, header: { jku: t.tripwire.url('/dpop-jwks') } })), expect: dpopRefused() },
  { category: 'dpop', name: 'proof with a kid beside its jwk', send: (t) => dpopRequest(t, t.bound.access, handProof({ key: t.dpopKey, htm: 'GET', htu: `${ORIGIN}/me`, accessToken: t.bound.access, header: { kid: 'k1' } })), expect: dpopRefused() },
  { category: 'dpop', name: 'proof with x5c beside its jwk', send: (t) => dpopRequest(t, t.bound.access, handProof({ key: t.dpopKey, htm: 'GET', htu: `${ORIGIN}/me`, accessToken: t.bound.access, header: { x5c: [t.attackerCertificate] } })), expect: dpopRefused() },
  { category: 'dpop', name: 'proof with a kid and no jwk', send: (t) => dpopRequest(t, t.bound.access, handProof({ key: t.dpopKey, htm: 'GET', htu: `${ORIGIN}/me`, accessToken: t.bound.access, header: { jwk: undefined, kid: t.kid } })), expect: dpopRefused() },
  { category: 'dpop', name: 'proof without jti', send: (t) => dpopRequest(t, t.bound.access, handProof({ key: t.dpopKey, htm: 'GET', htu: `${ORIGIN}/me`, accessToken: t.bound.access, payload: { jti: undefined } })), expect: dpopRefused() },
  { category: 'dpop', name: 'proof with a jti of 300 characters', send: (t) => dpopRequest(t, t.bound.access, handProof({ key: t.dpopKey, htm: 'GET', htu: `${ORIGIN}/me`, accessToken: t.bound.access, payload: { jti: 'j'.repeat(300) } })), expect: dpopRefused() },
  { category: 'dpop', name: 'two DPoP headers (both valid proofs)', send: (t) => dpopRequest(t, t.bound.access, [t.proof(t.bound.access), t.proof(t.bound.access)]), expect: dpopRefused() },
  { category: 'dpop', name: 'the access token itself as the proof', send: (t) => dpopRequest(t, t.bound.access, t.bound.access), expect: dpopRefused() },
  { category: 'dpop', name: 'a JWE as the proof', send: (t) => dpopRequest(t, t.bound.access, jweLike({ alg: 'ECDH-ES', enc: 'A256GCM', typ: 'dpop+jwt' })), expect: dpopRefused() },
  { category: 'dpop', name: 'a proof of 5000 bytes', send: (t) => dpopRequest(t, t.bound.access, handProof({ key: t.dpopKey, htm: 'GET', htu: `${ORIGIN}/me`, accessToken: t.bound.access, payload: { pad: 'p'.repeat(4000) } })), expect: dpopRefused() },
  { category: 'dpop', name: 'a proof with a duplicate htm', send: (t) => { const proof = handProof({ key: t.dpopKey, htm: 'GET', htu: `${ORIGIN}/me`, accessToken: t.bound.access, sign: (h, p) => signJws(h, `${JSON.stringify(p).slice(0, -1)},"htm":"GET"}`, t.dpopKey, 'ES256') }); return dpopRequest(t, t.bound.access, proof); }, expect: dpopRefused() },
  { category: 'dpop', name: 'a forged bound token (cnf.jkt of the attacker key) with a valid proof by it', send: (t) => { const k = ecKey(); const token = signJws(t.header(), t.claims({ cnf: { jkt: 'A'.repeat(43) } }), ecKey(), 'ES256'); return dpopRequest(t, token, t.proof(token, { key: k })); }, expect: dpopChallenged('signature_invalid') },

  // Refresh tokens: reuse of a rotated one revokes its family (by design: RFC 9700 §4.14.2); forgeries change nothing.
  {
    category: 'refresh token',
    name: 'a rotated refresh token used again (reuse: the family is revoked)',
    prepare: async (t) => {
      const first = await t.login();
      await t.refresh(first.refresh);
      return { old: first.refresh };
    },
    send: (t, { old }) => refreshWith(t, { refresh_token: old }),
    expect: invalidToken('token_revoked'),
    changes: {
      why: 'reuse detection revokes the whole family (RFC 9700 §4.14.2), and only it: its session, which leaves the user\'s live sessions',
      keys: (t, { old }) => [t.sessionKey(old), t.liveSessionsKey(old)],
      value: (t, { old }) => ({ [t.sessionKey(old)]: /\["revoked","refresh_token_reuse"\]/, [t.liveSessionsKey(old)]: new RegExp(`^(?!.*${old.split('.')[1]})`) }),
    },
  },
  { category: 'refresh token', name: 'MAC tampered (one character changed)', send: (t) => { const parts = t.alice.refresh.split('.'); parts[3] = parts[3].slice(0, 10) + (parts[3][10] === 'A' ? 'B' : 'A') + parts[3].slice(11); return refreshWith(t, { refresh_token: parts.join('.') }); }, expect: invalidToken('signature_invalid') },
  { category: 'refresh token', name: 'MAC re-spelled (spare bits of its last character)', send: (t) => { const parts = t.alice.refresh.split('.'); parts[3] = respell(parts[3]); return refreshWith(t, { refresh_token: parts.join('.') }); }, expect: invalidToken('token_malformed') },
  { category: 'refresh token', name: 'generation moved ahead with the old MAC', send: (t) => { const parts = t.alice.refresh.split('.'); parts[2] = String(Number(parts[2]) + 1); return refreshWith(t, { refresh_token: parts.join('.') }); }, expect: invalidToken('signature_invalid') },
  { category: 'refresh token', name: 'an unknown session', send: (t) => { const parts = t.alice.refresh.split('.'); parts[1] = 'A'.repeat(parts[1].length); return refreshWith(t, { refresh_token: parts.join('.') }); }, expect: invalidToken('token_expired') },
  { category: 'refresh token', name: 'an access token as the refresh token', send: (t) => refreshWith(t, { refresh_token: t.alice.access }), expect: invalidToken('token_malformed') },
  { category: 'refresh token', name: 'a refresh token as a Bearer access token', send: (t) => bearer(t, t.alice.refresh), expect: invalidToken('token_malformed') },
  { category: 'refresh token', name: 'refresh_token as a number', send: (t) => refreshWith(t, { refresh_token: 12345 }), expect: { status: 400, code: 'invalid_request', challenge: null } },
  { category: 'refresh token', name: "a bound session's refresh token without a proof", send: (t) => refreshWith(t, { refresh_token: t.bound.refresh }), expect: dpopRefused() },
  { category: 'refresh token', name: "a bound session's refresh token with a proof by another key", send: (t) => refreshWith(t, { refresh_token: t.bound.refresh }, handProof({ key: ecKey(), htm: 'POST', htu: `${ORIGIN}/auth/refresh` })), expect: dpopRefused() },

  // A token stolen and replayed after its owner logged out.
  {
    category: 'revoked token',
    name: 'an access token used after logout (theft and replay)',
    prepare: async (t) => {
      const session = await t.login();
      const out = await t.attacker('post', '/auth/logout').set('X-Device-Id', 'alice-laptop').set('Authorization', `Bearer ${session.access}`);
      if (out.status !== 204) throw new Error(`logout: ${out.status}`);
      return { access: session.access };
    },
    send: (t, { access }) => bearer(t, access),
    expect: invalidToken('token_revoked'),
  },
];

/** The corpus's cases for one demo. */
export function casesFor(alg: 'ES256' | 'RS256'): AttackCase[] {
  return CORPUS.filter((attack) => (attack.on ?? 'ES256') === alg);
}

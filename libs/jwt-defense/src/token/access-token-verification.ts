import { constants, createHmac, timingSafeEqual, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import type { DefenseClock } from '../common/defense-clock.js';
import { then, type MaybePromise } from '../common/maybe-promise.js';
import { checkJoseHeader, parseCompactJws, requireSignature, type HeaderProfile, type JoseHeader, type PrefilteredJws } from '../edge/compact-jws.js';
import { TokenVerificationError } from '../errors/defense.exceptions.js';
import type { DefenseMetricsSink } from '../pipeline/metrics-sink.js';
import { validateAccessTokenClaims, type AccessTokenPrincipal, type ClaimRules } from './access-token-claims.js';
import type { VerifiedTokenCache } from './verified-token.cache.js';

/** A key a resolver hands to the verification: imported once (a `KeyObject`), with the algorithms it may verify. */
export interface VerificationKey {
  /**
   * The JWS algorithms this key verifies; they must fit its type (HS* a secret, RS and PS an RSA key, ES256/384/512
   * an EC key on that curve, EdDSA an Ed25519/Ed448 key): the token's `alg` is never trusted beyond this list.
   */
  readonly algorithms: readonly string[];
  readonly verifyKey: KeyObject;
}

/**
 * The seam between the one verification and an issuer (jose's `jwtVerify(jwt, getKey)`, with the issuer's rules):
 * this module's key ring is one resolver (`TokenService`), each external issuer another (`ExternalIssuer`).
 */
export interface IssuerKeyResolver {
  /** What a header of its tokens may say (checked before any key is looked up). */
  readonly profile: HeaderProfile;
  /** Its claim rules, `issuer` the `iss` its tokens carry (`nowSec` comes from the clock at verification). */
  readonly rules: Omit<ClaimRules, 'nowSec'>;
  /**
   * The key for a header that passed `profile`: throws `TokenVerificationError` (`signature_invalid`, reason
   * `unknown_kid`), or another `JwtDefenseException` (an issuer whose keys cannot be had: 503).
   */
  key(header: JoseHeader): VerificationKey | Promise<VerificationKey>;
}

/** What every verification shares: the one cache, the clock, the metrics. */
export interface VerificationContext {
  readonly maxTokenBytes: number;
  readonly cache: VerifiedTokenCache;
  readonly clock: DefenseClock;
  readonly metrics: DefenseMetricsSink;
}

const HASHES: Readonly<Record<string, string>> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' };
/** ECDSA signatures are R || S (RFC 7518 §3.4), each the curve's size. */
const EC_SIGNATURE_BYTES: Readonly<Record<string, number>> = { ES256: 64, ES384: 96, ES512: 132 };

/**
 * The signature backend, per algorithm: node:crypto with the key's imported `KeyObject` (HMAC compared in constant
 * time; RSA PKCS#1 v1.5 and PSS with a salt of the digest's size; ECDSA in the JWS encoding; Ed25519/Ed448). Chosen
 * by measurement (docs/BENCHMARKS.md): faster than jsonwebtoken and jose for every algorithm here. The caller has
 * checked that `alg` is one of the key's algorithms.
 */
export function verifyJwsSignature(alg: string, key: KeyObject, signingInput: string, signature: Buffer): boolean {
  const hash = HASHES[alg.slice(2)];
  try {
    switch (alg.slice(0, 2)) {
      case 'HS': {
        const mac = createHmac(hash, key).update(signingInput, 'latin1').digest();
        return mac.length === signature.length && timingSafeEqual(mac, signature);
      }
      case 'RS':
        return cryptoVerify(hash, Buffer.from(signingInput, 'latin1'), key, signature);
      case 'PS':
        return cryptoVerify(hash, Buffer.from(signingInput, 'latin1'), { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, signature);
      case 'ES':
        return signature.length === EC_SIGNATURE_BYTES[alg] && cryptoVerify(hash, Buffer.from(signingInput, 'latin1'), { key, dsaEncoding: 'ieee-p1363' }, signature);
      case 'Ed':
        return alg === 'EdDSA' && cryptoVerify(null, Buffer.from(signingInput, 'latin1'), key, signature);
      default:
        return false;
    }
  } catch {
    // A signature node:crypto cannot even parse is a wrong signature, never a crash.
    return false;
  }
}

/**
 * Verifies a token that passed the pre-filter's structure, with the key its issuer's resolver gives: the header
 * profile, the key, the algorithm on that key's own list, the signature, then the claims at the clock's now. Answers
 * synchronously when the key is at hand (this module's key ring); throws synchronously for a header it refuses.
 */
function verifyWith(jws: PrefilteredJws, resolver: IssuerKeyResolver, clock: DefenseClock): MaybePromise<AccessTokenPrincipal> {
  checkJoseHeader(jws.header, resolver.profile);
  requireSignature(jws);
  return then(resolver.key(jws.header), (key) => {
    const alg = jws.header.alg;
    if (!key.algorithms.includes(alg)) throw new TokenVerificationError('algorithm_not_allowed', { reason: 'alg_not_for_key' });
    if (!verifyJwsSignature(alg, key.verifyKey, jws.signingInput, jws.signature)) throw new TokenVerificationError('signature_invalid');
    const kid = typeof jws.header.kid === 'string' ? jws.header.kid : '';
    return validateAccessTokenClaims(jws.payload, kid, { ...resolver.rules, nowSec: clock.nowSec() });
  });
}

/**
 * The one verification of an access token, whoever issued it: the verified-token cache (a hit re-checked against the
 * clock), else the pre-filter (structure, no crypto), the issuer's resolver chosen by `resolverFor` from the
 * unverified `iss`, the header, key, signature and claims; a verified token is cached. A cached principal is returned
 * only to a caller whose `resolverFor` names its issuer. Throws `TokenVerificationError` with a stable code (or the
 * resolver's `JwtDefenseException`), synchronously when it answers synchronously: a cache hit, or this module's key.
 */
export function verifyAccessToken(
  token: string,
  resolverFor: (iss: unknown) => IssuerKeyResolver,
  context: VerificationContext,
): MaybePromise<AccessTokenPrincipal> {
  const { cache, clock } = context;
  const cacheable = cache.enabled && typeof token === 'string' && token.length <= context.maxTokenBytes;
  if (cacheable) {
    let cached: AccessTokenPrincipal | undefined;
    try {
      cached = cache.get(token, clock.nowSec());
    } catch (error) {
      context.metrics.cacheLookup(false); // expired, or not yet valid: it spared nothing
      throw error;
    }
    const hit = cached !== undefined && resolverFor(cached.issuer).rules.issuer === cached.issuer;
    context.metrics.cacheLookup(hit);
    if (hit) return cached!;
  }
  const jws = parseCompactJws(token, context.maxTokenBytes);
  const resolver = resolverFor(jws.payload.iss);
  return then(verifyWith(jws, resolver, clock), (principal) => {
    if (cacheable) cache.set(token, principal, resolver.rules.clockToleranceSec);
    return principal;
  });
}

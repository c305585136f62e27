import { KeyObject } from 'node:crypto';
import type { CryptoKey } from 'jose';
import type { HeaderProfile, JoseHeader } from '../edge/compact-jws.js';
import { TokenVerificationError } from '../errors/defense.exceptions.js';
import type { ClaimRules } from '../token/access-token-claims.js';
import type { IssuerKeyResolver, VerificationKey } from '../token/access-token-verification.js';
import type { IssuerOptions } from './issuer.options.js';
import { RemoteKeySet } from './remote-key-set.js';

/**
 * A `kid` of an external issuer is only ever matched against its JWKS, never used in a path: any printable ASCII,
 * up to 256 characters (Cognito's carry `+`, `/` and `=`).
 */
const EXTERNAL_KID = /^[\x21-\x7e]{1,256}$/;

const EC_ALGORITHMS: Readonly<Record<string, string>> = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' };

/**
 * The one JWS algorithm a key jose imported from the JWKS verifies (jose imports a JWK for the header's `alg`, so its
 * WebCrypto algorithm names it): RSASSA-PKCS1-v1_5 → RS*, RSA-PSS → PS*, ECDSA → ES* by curve, Ed25519/Ed448 → EdDSA.
 */
function algorithmsOf(key: CryptoKey): string[] {
  const algorithm = key.algorithm as { name: string; hash?: { name: string }; namedCurve?: string };
  const bits = algorithm.hash?.name.replace('SHA-', '');
  switch (algorithm.name) {
    case 'RSASSA-PKCS1-v1_5':
      return [`RS${bits}`];
    case 'RSA-PSS':
      return [`PS${bits}`];
    case 'ECDSA':
      return algorithm.namedCurve && EC_ALGORITHMS[algorithm.namedCurve] ? [EC_ALGORITHMS[algorithm.namedCurve]] : [];
    case 'Ed25519':
    case 'Ed448':
      return ['EdDSA'];
    default:
      return [];
  }
}

/** One external issuer, a resolver of the one verification: its header profile, its keys (its JWKS), its claim rules. */
export class ExternalIssuer implements IssuerKeyResolver {
  readonly keys: RemoteKeySet;
  readonly profile: HeaderProfile;
  readonly rules: Omit<ClaimRules, 'nowSec'>;
  /** The KeyObject of each key jose imported (jose keeps one CryptoKey per JWK and algorithm): converted once. */
  private readonly imported = new WeakMap<CryptoKey, VerificationKey>();

  constructor(
    readonly options: IssuerOptions,
    nowMs: () => number,
    /** Where it is configured (`issuers[i]`), for messages that name the option to fix. */
    readonly path: string,
  ) {
    this.keys = new RemoteKeySet(options, nowMs, path);
    this.profile = {
      types: options.types.map((type) => (type === 'none' ? null : type)),
      allowedAlgorithms: new Set(options.algorithms),
      kidPattern: EXTERNAL_KID,
      kidOptional: true,
      // Entra sends x5t: information only, never a key source (keys come from the JWKS alone).
      informational: ['x5t', 'x5t#S256'],
    };
    this.rules = {
      issuer: options.issuer,
      audiences: typeof options.audience === 'string' ? [options.audience] : [...options.audience],
      audienceClaim: options.audienceClaim,
      requireJti: options.requireJti,
      clockToleranceSec: options.clockToleranceSec,
      maxLifetimeSec: options.maxTokenTtlSec,
      roles: options.roles,
      splitRoles: true,
      // Its subjects are keyed after the issuer and a separator: any character is unambiguous there.
      plainSubject: false,
      refuseIdTokens: true,
      clients: options.clients,
    };
  }

  /** The key of the issuer's JWKS for this header (fetched, cached and bounded by `RemoteKeySet`). */
  async key(header: JoseHeader): Promise<VerificationKey> {
    const cryptoKey = await this.keys.key(header);
    let key = this.imported.get(cryptoKey);
    if (key === undefined) {
      try {
        key = { algorithms: algorithmsOf(cryptoKey), verifyKey: KeyObject.from(cryptoKey as Parameters<typeof KeyObject.from>[0]) };
      } catch (error) {
        throw new TokenVerificationError('signature_invalid', { reason: 'key_unusable', cause: error });
      }
      this.imported.set(cryptoKey, key);
    }
    return key;
  }
}

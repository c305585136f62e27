import { compactVerify, errors } from 'jose';
import { checkJoseHeader, requireSignature, type HeaderProfile, type PrefilteredJws } from '../edge/compact-jws.js';
import { JwtDefenseException, TokenVerificationError } from '../errors/defense.exceptions.js';
import { validateAccessTokenClaims, type AccessTokenPrincipal } from '../token/access-token-claims.js';
import type { IssuerOptions } from './issuer.options.js';
import { RemoteKeySet } from './remote-key-set.js';

/**
 * A `kid` of an external issuer is only ever matched against its JWKS, never used in a path: any printable ASCII,
 * up to 256 characters (Cognito's carry `+`, `/` and `=`).
 */
const EXTERNAL_KID = /^[\x21-\x7e]{1,256}$/;

/** One external issuer: its header profile, its keys, its claim rules. */
export class ExternalIssuer {
  readonly keys: RemoteKeySet;
  private readonly profile: HeaderProfile;
  private readonly audiences: readonly string[];

  constructor(
    readonly options: IssuerOptions,
    private readonly nowMs: () => number,
  ) {
    this.keys = new RemoteKeySet(options, nowMs);
    this.audiences = typeof options.audience === 'string' ? [options.audience] : [...options.audience];
    this.profile = {
      types: options.types.map((type) => (type === 'none' ? null : type)),
      allowedAlgorithms: new Set(options.algorithms),
      kidPattern: EXTERNAL_KID,
      kidOptional: true,
      // Entra sends x5t: information only, never a key source (keys come from the JWKS alone).
      informational: ['x5t', 'x5t#S256'],
    };
  }

  /** Header profile, signature with a key from the issuer's JWKS, then claims per the issuer's profile. */
  async verify(jws: PrefilteredJws): Promise<AccessTokenPrincipal> {
    checkJoseHeader(jws.header, this.profile);
    requireSignature(jws);
    try {
      await compactVerify(jws.token, (header) => this.keys.key(header), { algorithms: this.options.algorithms });
    } catch (error) {
      if (error instanceof TokenVerificationError || error instanceof JwtDefenseException) throw error;
      if (error instanceof errors.JOSEAlgNotAllowed) throw new TokenVerificationError('algorithm_not_allowed', { cause: error });
      throw new TokenVerificationError('signature_invalid', { cause: error });
    }
    return validateAccessTokenClaims(jws.payload, typeof jws.header.kid === 'string' ? jws.header.kid : '', {
      issuer: this.options.issuer,
      audiences: this.audiences,
      audienceClaim: this.options.audienceClaim,
      requireJti: this.options.requireJti,
      nowSec: Math.floor(this.nowMs() / 1000),
      clockToleranceSec: this.options.clockToleranceSec,
      maxLifetimeSec: this.options.maxTokenTtlSec,
      roles: this.options.roles,
      splitRoles: true,
      // Its subjects are keyed after the issuer and a separator: any character is unambiguous there.
      plainSubject: false,
      refuseIdTokens: true,
      clients: this.options.clients,
    });
  }
}

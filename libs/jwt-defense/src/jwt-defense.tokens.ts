/** Injection token of the resolved options (every layer's options class, composed). */
export const JWT_DEFENSE_OPTIONS = Symbol('JWT_DEFENSE_OPTIONS');

/** The realm of `WWW-Authenticate` challenges (a string). */
export const REALM = Symbol('JWT_DEFENSE_REALM');

/** The {@link DefenseMetricsSink} the pipeline reports to. */
export const DEFENSE_METRICS = Symbol('JWT_DEFENSE_METRICS');

/** The request property that also holds the verified principal (`principalProperty`: a name, or `false`). */
export const PRINCIPAL_PROPERTY = Symbol('JWT_DEFENSE_PRINCIPAL_PROPERTY');

/** The registration switches the module was built with (`JwtDefenseModuleExtras`, defaults applied). */
export const JWT_DEFENSE_EXTRAS = Symbol('JWT_DEFENSE_EXTRAS');

/** The lifetimes other layers size their state by (revocation epochs, denylist TTLs); never key material. */
export const TOKEN_LIFETIMES = Symbol('JWT_DEFENSE_TOKEN_LIFETIMES');
export interface TokenLifetimes {
  /** This module's own issuer (`token.issuer`): users of other issuers are keyed by issuer and subject. */
  readonly issuer: string;
  /** The external issuers (`issuers[].issuer`) whose users an incident action may name. */
  readonly externalIssuers?: readonly string[];
  readonly maxAccessTokenTtlSec: number;
  readonly refreshTokenTtlSec: number;
  readonly clockToleranceSec: number;
  /** `kid` of the key that signs new tokens, if any. */
  readonly signingKid?: string;
}

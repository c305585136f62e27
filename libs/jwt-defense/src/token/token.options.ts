import { ArrayNotEmpty, IsArray, IsInt, IsNotEmpty, IsOptional, IsString, Max, Min, ValidateIf } from 'class-validator';
import { NestedList, OptionsCheck, optionsError, REQUIRED, type OptionsInput } from '../common/options.js';
import {
  DEFAULT_ACCESS_TOKEN_TTL_SEC,
  DEFAULT_CLOCK_TOLERANCE_SEC,
  DEFAULT_MAX_TOKEN_BYTES,
  MAX_ACCESS_TOKEN_TTL_SEC,
} from '../jwt-defense.constants.js';
import { resolveKey, type JwtAlgorithm, type KeyMaterial } from './key-ring.js';

/** One key of the ring. */
export class KeyOptions {
  declare readonly [REQUIRED]?: { kid: true; algorithms: true };
  /** Key id put in the `kid` header of tokens it signs; `[A-Za-z0-9._-]{1,64}`. Required. */
  @IsString() @IsNotEmpty() kid!: string;
  /**
   * Algorithms this key accepts (its allow-list); the first one signs. All must be of one family:
   * HS*, or RS and PS (RSA), or ES256/ES384/ES512 (one curve each), or EdDSA. Required.
   */
  @IsArray() @ArrayNotEmpty() @IsString({ each: true }) algorithms!: JwtAlgorithm[];
  /** HS* secret: at least as many bytes as the hash output (32 for HS256, 48 for HS384, 64 for HS512). */
  @IsOptional() secret?: KeyMaterial;
  /** Private key (PEM or KeyObject): lets this key sign; its public half is derived from it. */
  @IsOptional() privateKey?: KeyMaterial;
  /** Public key (PEM or KeyObject) for a verify-only key. */
  @IsOptional() publicKey?: KeyMaterial;
}

/** What a user writes for one key. */
export type JwtKeyOptions = OptionsInput<KeyOptions>;

/** Layer 1 options: the tokens this module issues and verifies (`forRoot({ token: { ... } })`). */
@OptionsCheck<TokenOptions>((options, path) => {
  if (options.accessTokenTtlSec > options.maxAccessTokenTtlSec) {
    throw optionsError(`${path}.accessTokenTtlSec`, 'is greater than maxAccessTokenTtlSec: lower it, or raise maxAccessTokenTtlSec (at most 900)');
  }
  // Without keys (a provider-only resource server, checked beside `issuers`), issuer and audience have nothing to name.
  const ownKeys = options.keys.length > 0;
  if (ownKeys && options.issuer === undefined) {
    throw optionsError(`${path}.issuer`, 'is required with token.keys: the `iss` of the tokens this module issues');
  }
  if (ownKeys || options.audience !== undefined) {
    const audiences = typeof options.audience === 'string' ? [options.audience] : options.audience;
    if (!Array.isArray(audiences) || audiences.length === 0 || audiences.some((aud) => typeof aud !== 'string' || aud.length === 0)) {
      throw optionsError(`${path}.audience`, 'must be a non-empty string or a non-empty list of non-empty strings');
    }
  }
  const kids = new Set<string>();
  options.keys.forEach((key, index) => {
    // Imports and checks the key material (the services import it again, once, at construction).
    resolveKey(key, index, `${path}.keys[${index}]`);
    if (kids.has(key.kid)) throw optionsError(`${path}.keys[${index}].kid`, `"${key.kid}" is used twice: kids must be unique`);
    kids.add(key.kid);
  });
  if (options.signingKid !== undefined) {
    const key = options.keys.find((candidate) => candidate.kid === options.signingKid);
    if (!key || (key.secret === undefined && key.privateKey === undefined)) {
      throw optionsError(`${path}.signingKid`, `"${options.signingKid}" is not a key with a secret or private key`);
    }
  }
})
export class TokenOptions {
  declare readonly [REQUIRED]?: {};
  /** `iss` put in issued tokens and required in verified ones. Required with `keys`. */
  @IsOptional() @IsString() @IsNotEmpty() issuer?: string;
  /** `aud` put in issued tokens (the first one) and accepted in verified ones (any of them). Required with `keys`. */
  @ValidateIf((o: TokenOptions) => o.audience !== undefined && !Array.isArray(o.audience)) @IsString() @IsNotEmpty() audience?: string | string[];
  /**
   * The key ring, every key with a `kid`: at least one key, unless `issuers` lists the identity providers whose
   * tokens this API accepts and it issues none of its own (a provider-only resource server: then `TokenService.issue`
   * and `RefreshTokenService.issuePair` throw, and `getJwks()` is empty). Default none.
   */
  @NestedList(() => KeyOptions) @IsArray() keys: KeyOptions[] = [];
  /** `kid` of the key that signs. Default: the first key that can sign (has a secret or private key). */
  @IsOptional() @IsString() signingKid?: string;
  /** Access-token lifetime, in seconds. Default 300 (5 min); at most 900 (15 min): use refresh tokens for longer sessions. */
  @IsInt() @Min(1) @Max(MAX_ACCESS_TOKEN_TTL_SEC) accessTokenTtlSec: number = DEFAULT_ACCESS_TOKEN_TTL_SEC;
  /**
   * Largest `exp - iat` accepted on verify, in seconds. Default 900; at most 900. Tokens minted with a longer
   * lifetime (by a misconfigured or compromised issuer) are refused with `claim_invalid`.
   */
  @IsInt() @Min(1) @Max(MAX_ACCESS_TOKEN_TTL_SEC) maxAccessTokenTtlSec: number = MAX_ACCESS_TOKEN_TTL_SEC;
  /** Tolerance for clock skew on `exp`, `nbf` and `iat`, in seconds. Default 30; at most 300. */
  @IsInt() @Min(0) @Max(300) clockToleranceSec: number = DEFAULT_CLOCK_TOLERANCE_SEC;
  /** Largest accepted token, in bytes; larger ones are refused before parsing. Default 8192; 256 to 65536. */
  @IsInt() @Min(256) @Max(65_536) maxTokenBytes: number = DEFAULT_MAX_TOKEN_BYTES;
  /**
   * Verified tokens remembered, this module's and external issuers' in one cache (keyed by the whole token,
   * dropped at `exp` plus its issuer's clock tolerance, least recently used evicted) so repeat requests skip the
   * signature check; revocation, rate limits and roles are still checked on every request. Default 10000; `0`
   * turns it off; at most 10000000.
   */
  @IsInt() @Min(0) @Max(10_000_000) verifiedTokenCacheSize: number = 10_000;
}

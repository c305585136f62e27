import { ArrayNotEmpty, IsArray, IsBoolean, IsIn, IsInt, IsOptional, IsString, Max, Min, MinLength } from 'class-validator';
import { OptionsCheck, optionsError, REQUIRED } from '../common/options.js';

/** Asymmetric algorithms accepted for DPoP proofs. */
export const DPOP_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'EdDSA', 'RS256', 'PS256'] as const;

/**
 * DPoP (RFC 9449): sender-constrained tokens. A token bound to a key (`cnf.jkt`) is only accepted with
 * `Authorization: DPoP <token>` and a fresh proof signed by that key, so a stolen token alone is useless.
 */
@OptionsCheck<DpopOptions>((options, path) => {
  if (options.publicUrl !== undefined) {
    try {
      const url = new URL(options.publicUrl);
      if (!['http:', 'https:'].includes(url.protocol)) throw new Error('scheme');
    } catch {
      throw optionsError(`${path}.publicUrl`, 'must be an absolute http(s) URL (the public origin of this API, e.g. https://api.example.com)');
    }
  }
})
export class DpopOptions {
  declare readonly [REQUIRED]?: {};
  /**
   * `allowed`: DPoP-bound tokens need their proof, plain bearer tokens are still accepted; `required`: every token
   * must be DPoP-bound; `off`: the DPoP scheme is refused. Default `allowed`.
   */
  @IsIn(['allowed', 'required', 'off']) mode: 'allowed' | 'required' | 'off' = 'allowed';
  /** Accepted proof algorithms (asymmetric only). Default ES256, ES384, ES512, EdDSA, RS256, PS256. */
  @IsArray() @ArrayNotEmpty() @IsIn(DPOP_ALGORITHMS, { each: true }) algorithms: Array<(typeof DPOP_ALGORITHMS)[number]> = [...DPOP_ALGORITHMS];
  /** How far a proof's `iat` may be from now, either way, in seconds. Default 60; 1 to 600. */
  @IsInt() @Min(1) @Max(600) proofWindowSec: number = 60;
  /**
   * The public origin of this API (`https://api.example.com`), from which a proof's `htu` is checked. Default: the
   * request's `Host` header and scheme (set this behind a reverse proxy).
   */
  @IsOptional() @IsString() publicUrl?: string;
  /** Ask for server nonces (`DPoP-Nonce`, 401 `use_dpop_nonce`): proofs cannot be made in advance. Default `false`. */
  @IsBoolean() nonce: boolean = false;
  /** Secret the nonces are derived from (share it between instances). Default: random per process. At least 32 characters. */
  @IsOptional() @IsString() @MinLength(32) nonceSecret?: string;
  /** How long a nonce is accepted, in seconds. Default 300; 10 to 3600. */
  @IsInt() @Min(10) @Max(3600) nonceLifetimeSec: number = 300;
}

import ipaddr from 'ipaddr.js';
import { ArrayNotEmpty, IsArray, IsBoolean, IsIn, IsInt, IsNotEmpty, IsOptional, IsString, Max, Min, ValidateIf } from 'class-validator';
import { OptionsCheck, optionsError, REQUIRED } from '../common/options.js';
import type { RolesMapping } from '../token/access-token-claims.js';
import { hasControlCharacter } from '../token/token-ids.js';

/** Asymmetric JWS algorithms an external issuer's keys may use (never HS*: a remote key is public). */
export const EXTERNAL_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
/** `typ` values an external issuer's access tokens may carry; `none` means no `typ` at all (Cognito, Okta). */
export const EXTERNAL_TOKEN_TYPES = ['at+jwt', 'jwt', 'none'] as const;

const CLIENT_IDS = 'clients must be a list of client ids (non-empty strings)';

/** `localhost` or a loopback address (127.0.0.0/8, ::1, and an IPv4-mapped 127.x), as `URL.hostname` spells it. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  return host === 'localhost' || (ipaddr.isValid(host) && ipaddr.process(host).range() === 'loopback');
}

/**
 * Why a URL of an issuer (its `issuer`, `jwksUri`, or a discovered `jwks_uri`) may not be fetched, or undefined: it
 * must be https, or http on a loopback host when `allowInsecureLoopback` (named by `optionPath`) is set.
 */
export function issuerUrlProblem(value: unknown, allowInsecureLoopback: boolean, optionPath: string): string | undefined {
  let url: URL | undefined;
  try {
    url = typeof value === 'string' ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (url?.protocol === 'https:') return undefined;
  if (url?.protocol !== 'http:') return 'must be an https URL';
  if (!allowInsecureLoopback) return `must be an https URL (a development provider on http on this machine needs ${optionPath}: true)`;
  if (!isLoopbackHost(url.hostname)) {
    return `is http on ${url.hostname}, not a loopback host: ${optionPath} allows http on localhost, 127.0.0.0/8 and ::1 only`;
  }
  return undefined;
}

/**
 * An external OpenID provider (Auth0, Keycloak, Okta, Cognito, Entra...) whose access tokens this API accepts as a
 * resource server. Keys come from its JWKS (`jwksUri`, or OpenID discovery), cached; a `kid` it does not know yet
 * causes at most one refetch per `jwksCooldownMs`.
 */
@OptionsCheck<IssuerOptions>((options, path) => {
  // A control character separates the issuer from the subject in its users' keys: it can never be part of one.
  if (typeof options.issuer === 'string' && hasControlCharacter(options.issuer)) {
    throw optionsError(`${path}.issuer`, 'must not contain a control character (it is the exact `iss` of its tokens)');
  }
  const insecure = `${path}.allowInsecureLoopback`;
  if (options.allowInsecureLoopback && process.env.NODE_ENV === 'production') {
    throw optionsError(insecure, 'must not be true when NODE_ENV=production: plain http to an issuer is for development only (use its https URL)');
  }
  const issuerProblem = issuerUrlProblem(options.issuer, options.allowInsecureLoopback, insecure);
  if (issuerProblem) throw optionsError(`${path}.issuer`, `${issuerProblem}; it is the exact \`iss\` of its tokens`);
  const jwksProblem = options.jwksUri === undefined ? undefined : issuerUrlProblem(options.jwksUri, options.allowInsecureLoopback, insecure);
  if (jwksProblem) throw optionsError(`${path}.jwksUri`, jwksProblem);
  const audiences = typeof options.audience === 'string' ? [options.audience] : options.audience;
  if (!Array.isArray(audiences) || audiences.length === 0 || audiences.some((aud) => typeof aud !== 'string' || aud.length === 0)) {
    throw optionsError(`${path}.audience`, 'is required: this API\'s audience (a string or a list)');
  }
  if (options.roles !== undefined && typeof options.roles !== 'string' && typeof options.roles !== 'function') {
    throw optionsError(`${path}.roles`, 'must be a claim name or a function of the claims');
  }
  if (options.roles === 'scope' || options.roles === 'scp') {
    throw optionsError(`${path}.roles`, 'must not be the scopes: scopes are never roles; require them with @DefensePolicy({ scopes })');
  }
})
export class IssuerOptions {
  declare readonly [REQUIRED]?: { issuer: true; audience: true };
  /**
   * The issuer, exactly as in its tokens' `iss` (an https URL, or http on a loopback host with
   * `allowInsecureLoopback`; without control characters; not `token.issuer`; listed once). Required.
   */
  @IsString() @IsNotEmpty() issuer!: string;
  /** This API's audience at the provider: a string or a list (any of them is accepted). Required. */
  @ValidateIf((o: IssuerOptions) => !Array.isArray(o.audience)) @IsString() @IsNotEmpty() audience!: string | string[];
  /** The provider's JWKS URL (https, or http on a loopback host with `allowInsecureLoopback`). Default: `jwks_uri` from its OpenID discovery document (`<issuer>/.well-known/openid-configuration`). */
  @IsOptional() @IsString() jwksUri?: string;
  /** The claim holding the audience: `aud`, or e.g. `client_id` (Cognito access tokens). Default `aud`. */
  @IsString() @IsNotEmpty() audienceClaim: string = 'aud';
  /** Accepted `typ` headers (lower case): `at+jwt` (RFC 9068), `jwt`, `none` (no `typ`: Cognito, Okta). Default all three. */
  @IsArray() @ArrayNotEmpty() @IsIn(EXTERNAL_TOKEN_TYPES, { each: true }) types: Array<(typeof EXTERNAL_TOKEN_TYPES)[number]> = ['at+jwt', 'jwt', 'none'];
  /**
   * Whether tokens must carry a `jti`. Without one, a single token cannot be revoked (its user's and global
   * revocation still work). Default `false`.
   */
  @IsBoolean() requireJti: boolean = false;
  /** Largest accepted `exp - iat`, in seconds. Default 3600; 60 to 86400. */
  @IsInt() @Min(60) @Max(86_400) maxTokenTtlSec: number = 3600;
  /** Tolerance for clock skew on `exp`, `nbf`, `iat`, in seconds. Default 30; 0 to 300. */
  @IsInt() @Min(0) @Max(300) clockToleranceSec: number = 30;
  /** Accepted algorithms (asymmetric only: its keys are public). Default every asymmetric one. */
  @IsArray() @ArrayNotEmpty() @IsIn(EXTERNAL_ALGORITHMS, { each: true }) algorithms: Array<(typeof EXTERNAL_ALGORITHMS)[number]> = [...EXTERNAL_ALGORITHMS];
  /**
   * Where roles are: a claim name looked up exactly first (`https://example.com/roles`, `cognito:groups`,
   * `permissions` for Auth0), then as a dot path (`realm_access.roles`, `resource_access.my-api.roles` for
   * Keycloak); or a function of the claims. Default: the `roles` claim (none when absent). Scopes (`scope`/`scp`)
   * are never roles: they stay the principal's `scopes` (`@DefensePolicy({ scopes })`).
   */
  @IsOptional() roles?: RolesMapping;
  /**
   * The clients whose tokens this API accepts, by client id: the token's `client_id` (RFC 9068), `azp`, `cid`
   * (Okta) and `appid` (Entra v1), each one it carries, must be listed, and it must carry one (else 401
   * `claim_invalid`). Default: any client of the issuer whose token names this API's audience. OpenID ID tokens are
   * refused whatever this says.
   */
  @IsOptional()
  @IsArray({ message: CLIENT_IDS })
  @ArrayNotEmpty({ message: 'clients must list at least one client id (leave it out to accept every client)' })
  @IsString({ each: true, message: CLIENT_IDS })
  @IsNotEmpty({ each: true, message: CLIENT_IDS })
  clients?: string[];
  /** A private CA (PEM) for this issuer's https endpoints (corporate IdPs). `NODE_EXTRA_CA_CERTS` is honoured too. */
  @IsOptional() @IsString() ca?: string;
  /**
   * Allows plain `http://` for this issuer and its JWKS (configured or discovered) on a loopback host only
   * (`localhost`, 127.0.0.0/8, `::1`): a provider on the developer's machine, such as a local Keycloak on port 8080.
   * Logs a warning at boot; refused when `NODE_ENV=production`. Any other host stays https only. Default `false`.
   */
  @IsBoolean() allowInsecureLoopback: boolean = false;
  /** Shortest time between two JWKS fetches caused by unknown `kid`s, or after a failure, in ms. Default 30000; 1000 to 3600000. */
  @IsInt() @Min(1000) @Max(3_600_000) jwksCooldownMs: number = 30_000;
  /** How often the cached JWKS is refreshed in the background (known keys keep working if it fails), in ms. Default 600000. */
  @IsInt() @Min(10_000) @Max(86_400_000) jwksRefreshMs: number = 600_000;
  /** Timeout of one fetch (discovery or JWKS), in ms. Default 5000; 100 to 60000. */
  @IsInt() @Min(100) @Max(60_000) fetchTimeoutMs: number = 5000;
}

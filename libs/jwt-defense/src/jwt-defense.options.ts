import { CronTime } from 'cron';
import {
  ArrayNotEmpty,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsOptional,
  IsString,
  Matches,
  Max,
  Min,
  ValidateIf,
  validateSync,
  type ValidationError,
} from 'class-validator';
import {
  ACCESS_TOKEN_TYPE,
  DEFAULT_ACCESS_TOKEN_TTL_SEC,
  DEFAULT_CLOCK_TOLERANCE_SEC,
  DEFAULT_MAX_TOKEN_BYTES,
  MAX_ACCESS_TOKEN_TTL_SEC,
} from './jwt-defense.constants.js';
import { resolveKey, type JwtKeyOptions, type ResolvedKey } from './token/key-ring.js';
import type { DefenseStore } from './store/defense-store.interface.js';
import type { RedisConnection } from './store/redis-connection.js';
import type { ThrottleOptions } from './throttling/throttle-policy.js';
import { resolveThrottleOptions, type ResolvedThrottleOptions } from './throttling/throttle-options.resolver.js';
import {
  buildHeaderSet,
  DEFAULT_SECURITY_HEADERS,
  type HeaderSet,
  type SecurityHeadersOptions,
} from './headers/security-headers.options.js';

/** Options of `JwtDefenseModule.forRoot()` / `forRootAsync()`. */
export interface JwtDefenseModuleOptions {
  /** `iss` put in issued tokens and required in verified ones. Required. */
  issuer: string;
  /** `aud` put in issued tokens (the first one) and accepted in verified ones (any of them). Required. */
  audience: string | string[];
  /** The key ring. At least one key; every key has a `kid`. */
  keys: JwtKeyOptions[];
  /** `kid` of the key that signs. Default: the first key that can sign (has a secret or private key). */
  signingKid?: string;
  /** Access-token lifetime, in seconds. Default 300 (5 min); at most 900 (15 min). */
  accessTokenTtlSec?: number;
  /**
   * Largest `exp - iat` accepted on verify, in seconds. Default 900; at most 900. Tokens minted with a longer
   * lifetime (by a misconfigured or compromised issuer) are refused with `claim_invalid`.
   */
  maxAccessTokenTtlSec?: number;
  /** Tolerance for clock skew on `exp`, `nbf` and `iat`, in seconds. Default 30; at most 300. */
  clockToleranceSec?: number;
  /** Largest accepted token, in bytes. Default 8192. */
  maxTokenBytes?: number;
  /**
   * Verified tokens remembered (keyed by a hash of the whole token, dropped at `exp`) so repeat requests skip
   * the signature check; revocation and rate limits are still checked every request. Default 10000; `0` turns
   * it off.
   */
  verifiedTokenCacheSize?: number;
  /** Realm of `WWW-Authenticate: Bearer realm="..."`. Default `"api"`. */
  realm?: string;
  /** Layer 6: security headers on every response (`false` turns the layer off). Default: on, with the defaults. */
  securityHeaders?: boolean | SecurityHeadersOptions;
  /** Shared state. Default: the embedded memory store (one process). */
  store?: StoreOptions;
  /** Layer 5: revocation. */
  revocation?: RevocationOptions;
  /** Layer 2: rate limits per IP, per user and per body field, with the trusted proxies. */
  throttle?: ThrottleOptions;
  /** Refresh-token lifetime (a session, rotated on every use), in seconds. Default 604800 (7 days); at most 7776000 (90 days). */
  refreshTokenTtlSec?: number;
}

/** What happens to a request when the store cannot answer. */
export type FailMode = 'open' | 'closed';

/** Which store holds the shared state. */
export type StoreOptions =
  | {
      type: 'memory';
      /** Most entries kept. Default 100000. */
      maxEntries?: number;
      /** Most security events kept. Default 10000. */
      maxEvents?: number;
    }
  | {
      type: 'redis';
      /** An ioredis `Redis` or `Cluster` (never closed by us), a URL, `RedisOptions`, or `{ clusterNodes }`. */
      connection: RedisConnection;
      /** Key prefix, without `{` or `}`. Default `jwtd:`. */
      keyPrefix?: string;
      /** Bound of one command on connections we open, in ms. Default 500. */
      commandTimeoutMs?: number;
      /** Approximate cap of the event stream. Default 10000. */
      maxEvents?: number;
    }
  | {
      type: 'custom';
      /** Your own implementation of the store contract. */
      store: DefenseStore;
    };

export interface RevocationOptions {
  /** When the store is down: `closed` answers 503 `defense_store_unavailable`, `open` lets the request through and records an event. Default `closed`; `@DefensePolicy({ failMode })` overrides per route. */
  failMode?: FailMode;
  /** Kept past a revoked token's expiry, in seconds (clock skew, late checks). Default 900. */
  graceSec?: number;
  /** How often each instance re-reads the global state (revoke-everything epoch, retired kids), in ms. Default 1000. */
  globalStateRefreshMs?: number;
  /** Cron expression of the cleanup job, or `false` for none. Default every 5 minutes (`0 *\/5 * * * *`). */
  cleanupCron?: string | false;
  /** Time budget of one cleanup run, in ms. Default 200. */
  cleanupBudgetMs?: number;
}

/** The options after defaults, validation and key import: what every service injects. */
export interface ResolvedJwtDefenseOptions {
  readonly issuer: string;
  readonly audiences: readonly string[];
  readonly keys: ReadonlyMap<string, ResolvedKey>;
  readonly signingKey?: ResolvedKey;
  readonly allowedAlgorithms: ReadonlySet<string>;
  readonly accessTokenTtlSec: number;
  readonly maxAccessTokenTtlSec: number;
  readonly clockToleranceSec: number;
  readonly maxTokenBytes: number;
  readonly verifiedTokenCacheSize: number;
  readonly tokenType: string;
  readonly realm: string;
  readonly store: StoreOptions;
  readonly revocation: Required<RevocationOptions>;
  readonly refreshTokenTtlSec: number;
  readonly throttle: ResolvedThrottleOptions;
  /** `undefined` when the headers layer is off. */
  readonly securityHeaders?: Required<SecurityHeadersOptions>;
  readonly headerSet: HeaderSet;
}

class KeyOptionsSchema {
  @IsString() @IsNotEmpty() kid!: string;
  @IsArray() @ArrayNotEmpty() @IsString({ each: true }) algorithms!: string[];
  @IsOptional() secret?: unknown;
  @IsOptional() privateKey?: unknown;
  @IsOptional() publicKey?: unknown;
}

class OptionsSchema {
  @IsString() @IsNotEmpty() issuer!: string;
  @ValidateIf((o: OptionsSchema) => !Array.isArray(o.audience)) @IsString() @IsNotEmpty() audience!: string | string[];
  @IsArray() @ArrayNotEmpty() keys!: unknown[];
  @IsOptional() @IsString() signingKid?: string;
  @IsInt() @Min(1) @Max(MAX_ACCESS_TOKEN_TTL_SEC, {
    message: `accessTokenTtlSec must be at most ${MAX_ACCESS_TOKEN_TTL_SEC} seconds (15 minutes): use refresh tokens for longer sessions`,
  })
  accessTokenTtlSec = DEFAULT_ACCESS_TOKEN_TTL_SEC;
  @IsInt() @Min(1) @Max(MAX_ACCESS_TOKEN_TTL_SEC, {
    message: `maxAccessTokenTtlSec must be at most ${MAX_ACCESS_TOKEN_TTL_SEC} seconds (15 minutes)`,
  })
  maxAccessTokenTtlSec = MAX_ACCESS_TOKEN_TTL_SEC;
  @IsInt() @Min(0) @Max(300) clockToleranceSec = DEFAULT_CLOCK_TOLERANCE_SEC;
  @IsInt() @Min(256) @Max(65536) maxTokenBytes = DEFAULT_MAX_TOKEN_BYTES;
  @IsInt() @Min(0) @Max(10_000_000) verifiedTokenCacheSize = 10_000;
  @Matches(/^[\x20-\x7e]+$/, { message: 'realm must be printable ASCII' })
  @Matches(/^[^"\\]+$/, { message: 'realm must not contain a quote or a backslash' })
  realm = 'api';
  @IsOptional() securityHeaders?: unknown = true;
  @IsOptional() store?: unknown;
  @IsOptional() revocation?: unknown;
  @IsOptional() throttle?: unknown;
  @IsInt() @Min(60) @Max(7_776_000) refreshTokenTtlSec = 604_800;
}

class RevocationSchema {
  @IsIn(['open', 'closed']) failMode: FailMode = 'closed';
  @IsInt() @Min(0) @Max(86_400) graceSec = 900;
  @IsInt() @Min(100) @Max(3_600_000) globalStateRefreshMs = 1000;
  @ValidateIf((o: RevocationSchema) => o.cleanupCron !== false) @IsString() @IsNotEmpty() cleanupCron: string | false = '0 */5 * * * *';
  @IsInt() @Min(1) @Max(60_000) cleanupBudgetMs = 200;
}

function resolveStore(raw: unknown): StoreOptions {
  if (raw === undefined) return { type: 'memory' };
  const store = raw as StoreOptions;
  if (store === null || typeof store !== 'object' || !['memory', 'redis', 'custom'].includes(store.type)) {
    throw new TypeError("jwt-defense: invalid options: store.type must be 'memory', 'redis' or 'custom'");
  }
  if (store.type === 'redis' && (store.connection === undefined || store.connection === null)) {
    throw new TypeError('jwt-defense: invalid options: store.connection is required for a redis store (a URL, RedisOptions, a client or { clusterNodes })');
  }
  if (store.type === 'custom' && typeof store.store?.check !== 'function') {
    throw new TypeError('jwt-defense: invalid options: store.store must implement DefenseStore');
  }
  return store;
}

class HeadersSchema {
  @IsInt() @Min(0) hstsMaxAgeSec!: number;
  @IsBoolean() hstsIncludeSubDomains!: boolean;
  @IsBoolean() hstsPreload!: boolean;
  @ValidateIf((o: HeadersSchema) => o.contentSecurityPolicy !== false) @IsString() contentSecurityPolicy!: string | false;
  @IsIn(['DENY', 'SAMEORIGIN', false]) frameOptions!: string | false;
  @ValidateIf((o: HeadersSchema) => o.referrerPolicy !== false) @IsString() referrerPolicy!: string | false;
  @IsIn(['same-origin', 'same-site', 'cross-origin', false]) crossOriginResourcePolicy!: string | false;
  @IsIn(['same-origin', 'same-origin-allow-popups', 'unsafe-none', false]) crossOriginOpenerPolicy!: string | false;
  @ValidateIf((o: HeadersSchema) => o.cacheControl !== false) @IsString() cacheControl!: string | false;
}

function describe(errors: ValidationError[], prefix = ''): string[] {
  return errors.flatMap((error) => {
    const path = prefix ? `${prefix}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((message) =>
      message.startsWith(error.property) ? `${path}${message.slice(error.property.length)}` : `${path}: ${message}`,
    );
    return [...own, ...describe(error.children ?? [], path)];
  });
}

function validateInto<T extends object>(schema: T, raw: object, prefix: string): T {
  // Only defined values override defaults, so `{ realm: undefined }` keeps the default.
  for (const [name, value] of Object.entries(raw)) {
    if (value !== undefined) (schema as Record<string, unknown>)[name] = value;
  }
  const errors = validateSync(schema, { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true });
  if (errors.length > 0) {
    throw new TypeError(`jwt-defense: invalid options: ${describe(errors, prefix).join('; ')}`);
  }
  return schema;
}

/**
 * Applies defaults, validates with class-validator and imports keys. Throws a `TypeError` whose message
 * names the option and the fix, so a bad configuration stops the app at boot.
 */
export function resolveJwtDefenseOptions(raw: JwtDefenseModuleOptions): ResolvedJwtDefenseOptions {
  if (raw === null || typeof raw !== 'object') {
    throw new TypeError('jwt-defense: options are missing: pass { issuer, audience, keys } to JwtDefenseModule.forRoot()');
  }
  const options = validateInto(new OptionsSchema(), raw, '');
  const audiences = Array.isArray(options.audience) ? options.audience : [options.audience];
  if (audiences.length === 0 || audiences.some((aud) => typeof aud !== 'string' || aud.length === 0)) {
    throw new TypeError('jwt-defense: invalid options: audience must be a non-empty string or array of non-empty strings');
  }
  if (options.accessTokenTtlSec > options.maxAccessTokenTtlSec) {
    throw new TypeError(
      'jwt-defense: invalid options: accessTokenTtlSec is greater than maxAccessTokenTtlSec: lower accessTokenTtlSec',
    );
  }

  const keys = new Map<string, ResolvedKey>();
  options.keys.forEach((rawKey, index) => {
    if (rawKey === null || typeof rawKey !== 'object') {
      throw new TypeError(`jwt-defense: invalid options: keys[${index}] must be an object`);
    }
    if (!('kid' in rawKey) || rawKey.kid === undefined) {
      throw new TypeError(
        `jwt-defense: invalid options: keys[${index}].kid is missing: give every key a kid (1-64 of [A-Za-z0-9._-])`,
      );
    }
    validateInto(new KeyOptionsSchema(), rawKey, `keys[${index}]`);
    const key = resolveKey(rawKey as JwtKeyOptions, index);
    if (keys.has(key.kid)) {
      throw new TypeError(`jwt-defense: invalid options: keys[${index}].kid "${key.kid}" is used twice: kids must be unique`);
    }
    keys.set(key.kid, key);
  });

  let signingKey: ResolvedKey | undefined;
  if (options.signingKid !== undefined) {
    signingKey = keys.get(options.signingKid);
    if (!signingKey?.signKey) {
      throw new TypeError(
        `jwt-defense: invalid options: signingKid "${options.signingKid}" is not a key with a secret or private key`,
      );
    }
  } else {
    signingKey = [...keys.values()].find((key) => key.signKey !== undefined);
  }

  let securityHeaders: Required<SecurityHeadersOptions> | undefined;
  if (options.securityHeaders !== false) {
    const overrides = options.securityHeaders === true || options.securityHeaders === undefined ? {} : options.securityHeaders;
    if (typeof overrides !== 'object' || overrides === null) {
      throw new TypeError('jwt-defense: invalid options: securityHeaders must be a boolean or an object');
    }
    securityHeaders = validateInto(Object.assign(new HeadersSchema(), DEFAULT_SECURITY_HEADERS), overrides, 'securityHeaders');
  }

  const revocationRaw = options.revocation ?? {};
  if (typeof revocationRaw !== 'object' || revocationRaw === null) {
    throw new TypeError('jwt-defense: invalid options: revocation must be an object');
  }
  const revocation = validateInto(new RevocationSchema(), revocationRaw, 'revocation');
  if (revocation.cleanupCron !== false) {
    try {
      new CronTime(revocation.cleanupCron);
    } catch {
      throw new TypeError(
        `jwt-defense: invalid options: revocation.cleanupCron is not a cron expression (e.g. '0 */5 * * * *'), or set it to false`,
      );
    }
  }

  return {
    issuer: options.issuer,
    store: resolveStore(options.store),
    revocation: { ...revocation },
    refreshTokenTtlSec: options.refreshTokenTtlSec,
    throttle: resolveThrottleOptions(options.throttle as ThrottleOptions | undefined),
    audiences,
    keys,
    signingKey,
    allowedAlgorithms: new Set([...keys.values()].flatMap((key) => key.algorithms)),
    accessTokenTtlSec: options.accessTokenTtlSec,
    maxAccessTokenTtlSec: options.maxAccessTokenTtlSec,
    clockToleranceSec: options.clockToleranceSec,
    maxTokenBytes: options.maxTokenBytes,
    verifiedTokenCacheSize: options.verifiedTokenCacheSize,
    tokenType: ACCESS_TOKEN_TYPE,
    realm: options.realm,
    securityHeaders,
    headerSet: securityHeaders ? buildHeaderSet({ ...securityHeaders }) : [],
  };
}

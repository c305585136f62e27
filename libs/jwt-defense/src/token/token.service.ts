import { sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { DefenseClock } from '../common/defense-clock.js';
import { EpochClock } from '../common/epoch-clock.js';
import { checkJoseHeader, parseCompactJws, requireSignature, type HeaderProfile, type PrefilteredJws } from '../edge/compact-jws.js';
import { KID_PATTERN } from '../jwt-defense.constants.js';
import { TokenVerificationError } from '../errors/defense.exceptions.js';
import { ACCESS_TOKEN_TYPE } from '../jwt-defense.constants.js';
import { DEFENSE_METRICS } from '../jwt-defense.tokens.js';
import { NOOP_METRICS_SINK, type DefenseMetricsSink } from '../pipeline/metrics-sink.js';
import { validateAccessTokenClaims, type AccessTokenPrincipal } from './access-token-claims.js';
import { resolveKey, toPublicJwk, type PublicJwk, type ResolvedKey } from './key-ring.js';
import { TokenOptions } from './token.options.js';
import { hasControlCharacter, newJti } from './token-ids.js';
import { VerifiedTokenCache } from './verified-token.cache.js';

/** What `TokenService.issue` returns. */
export interface IssuedAccessToken {
  /** The compact JWS. */
  readonly token: string;
  readonly jti: string;
  /** Issued at, epoch seconds. */
  readonly iat: number;
  /** Expires at, epoch seconds. */
  readonly exp: number;
  /** Lifetime, in seconds (the `expires_in` of an OAuth token response). */
  readonly expiresInSec: number;
}

export interface IssueOptions {
  /** Lifetime, in seconds. Default: `accessTokenTtlSec`; never above `maxAccessTokenTtlSec`. */
  ttlSec?: number;
}

/** A JSON Web Key Set (RFC 7517 §5): public keys only. */
export interface JsonWebKeySet {
  keys: PublicJwk[];
}

/** Claims `issue()` sets itself; callers cannot override them. */
const RESERVED_CLAIMS = ['iss', 'aud', 'sub', 'iat', 'exp', 'nbf', 'jti'];

interface KeyEntry {
  readonly key: ResolvedKey;
  /** @nestjs/jwt bound to this key's KeyObjects (absent for EdDSA, which jsonwebtoken 9 lacks). */
  readonly jwt?: JwtService;
}

/**
 * Layer 1: issues and verifies access tokens (RFC 9068 `at+jwt`).
 *
 * Verification never trusts the token's `alg` alone: the pre-filter requires a known `kid`, and the
 * algorithm must be on that key's own allow-list, so an HS256 token can never be checked against an
 * RSA/EC public key.
 */
/**
 * Throws a `TypeError` unless `subject` can be the `sub` of this module's tokens: 1 to 255 characters, no control
 * character (the bare subject keys its user's state; a control character separates an external issuer from its
 * subject there). @internal
 */
export function checkOwnSubject(subject: unknown): asserts subject is string {
  if (typeof subject !== 'string' || subject.length === 0 || subject.length > 255) {
    throw new TypeError('jwt-defense: subject must be a non-empty string of at most 255 characters');
  }
  if (hasControlCharacter(subject)) throw new TypeError('jwt-defense: subject must not contain a control character (U+0000-U+001F, U+007F-U+009F)');
}

@Injectable()
export class TokenService {
  private readonly entries = new Map<string, KeyEntry>();
  private readonly prefilter: { maxTokenBytes: number };
  private readonly headerProfile: HeaderProfile & { allowedAlgorithms: Set<string> };
  private readonly unpublished = new Set<string>();
  private readonly cache?: VerifiedTokenCache;

  private readonly options: {
    readonly issuer: string;
    readonly audiences: readonly string[];
    /** Changed at run time by a key rotation (`useSigningKey`). */
    signingKey?: ResolvedKey;
    readonly accessTokenTtlSec: number;
    readonly maxAccessTokenTtlSec: number;
    readonly clockToleranceSec: number;
    readonly tokenType: string;
  };

  constructor(
    options: TokenOptions,
    private readonly clock: DefenseClock,
    @Optional() @Inject(DEFENSE_METRICS) private readonly metrics: DefenseMetricsSink = NOOP_METRICS_SINK,
    // In the module: the store's clock dates new tokens (what revocation epochs compare with). Standalone: `clock`.
    @Optional() private readonly epochs?: EpochClock,
  ) {
    // Keys are imported once, here, into KeyObjects: no key parsing per request.
    const keys = options.keys.map((key, index) => resolveKey(key, index, `token.keys[${index}]`));
    for (const key of keys) {
      this.entries.set(key.kid, { key, jwt: key.algorithms[0] === 'EdDSA' ? undefined : this.jwtServiceFor(key, ACCESS_TOKEN_TYPE) });
    }
    const signingKey = options.signingKid !== undefined ? keys.find((key) => key.kid === options.signingKid) : keys.find((key) => key.signKey);
    this.options = {
      issuer: options.issuer,
      audiences: typeof options.audience === 'string' ? [options.audience] : [...options.audience],
      signingKey,
      accessTokenTtlSec: options.accessTokenTtlSec,
      maxAccessTokenTtlSec: options.maxAccessTokenTtlSec,
      clockToleranceSec: options.clockToleranceSec,
      tokenType: ACCESS_TOKEN_TYPE,
    };
    if (options.verifiedTokenCacheSize > 0) {
      this.cache = new VerifiedTokenCache(options.verifiedTokenCacheSize, options.clockToleranceSec);
    }
    this.prefilter = { maxTokenBytes: options.maxTokenBytes };
    this.headerProfile = { types: [ACCESS_TOKEN_TYPE], allowedAlgorithms: new Set(keys.flatMap((key) => key.algorithms)), kidPattern: KID_PATTERN };
  }

  /** This module's own issuer (`iss` of the tokens it issues). */
  get issuer(): string {
    return this.options.issuer;
  }

  /** `kid` of the key that signs new tokens (`undefined` for a verify-only ring). */
  get signingKid(): string | undefined {
    return this.options.signingKey?.kid;
  }

  /**
   * Issues an access token for `subject` with extra `claims` (e.g. `roles`, `scope`, and `sid`, the refresh
   * session it belongs to, so that revoking the session revokes its access tokens).
   */
  async issue(subject: string, claims: Record<string, unknown> = {}, issueOptions: IssueOptions = {}): Promise<IssuedAccessToken> {
    return this.issueAt(this.epochs ? await this.epochs.nowMs() : this.clock.nowMs(), subject, claims, issueOptions);
  }

  /**
   * {@link issue} at `nowMs`, a time the caller just read from the same clock (a login's session time): no second
   * read of the store's clock. @internal
   */
  issueAt(nowMs: number, subject: string, claims: Record<string, unknown> = {}, issueOptions: IssueOptions = {}): IssuedAccessToken {
    const signing = this.options.signingKey;
    if (!signing?.signKey) {
      throw new TypeError('jwt-defense: no key can sign: add a key with a secret or privateKey to issue tokens');
    }
    checkOwnSubject(subject);
    const reserved = RESERVED_CLAIMS.filter((name) => name in claims);
    if (reserved.length > 0) {
      throw new TypeError(`jwt-defense: issue() sets ${reserved.join(', ')} itself: remove them from claims`);
    }
    const ttlSec = issueOptions.ttlSec ?? this.options.accessTokenTtlSec;
    if (!Number.isInteger(ttlSec) || ttlSec < 1 || ttlSec > this.options.maxAccessTokenTtlSec) {
      throw new TypeError(`jwt-defense: ttlSec must be an integer from 1 to ${this.options.maxAccessTokenTtlSec}`);
    }
    const iat = Math.floor(nowMs / 1000);
    const jti = newJti(subject, nowMs);
    const payload = {
      ...claims,
      iss: this.options.issuer,
      aud: this.options.audiences[0],
      sub: subject,
      iat,
      exp: iat + ttlSec,
      jti,
    };
    const entry = this.entries.get(signing.kid)!;
    const token = entry.jwt ? entry.jwt.sign(payload) : this.signEdDsa(signing, payload);
    return { token, jti, iat, exp: payload.exp, expiresInSec: ttlSec };
  }

  /**
   * Verifies an access token: pre-filter (structure, header, `kid`, `typ`), signature with the key
   * selected by `kid`, then claims. Throws {@link TokenVerificationError} with a stable `code`.
   */
  async verify(token: string): Promise<AccessTokenPrincipal> {
    if (!this.cache || typeof token !== 'string' || token.length > this.prefilter.maxTokenBytes) return this.verifyUncached(token);
    const nowSec = this.clock.nowSec();
    const cached = this.cache.get(token, nowSec);
    this.metrics.cacheLookup(cached !== undefined);
    if (cached) {
      // The clock may have moved back (or been frozen by a test) since it was cached: re-check iat.
      if (cached.iat > nowSec + this.options.clockToleranceSec) throw new TokenVerificationError('token_not_yet_valid');
      return cached;
    }
    const principal = await this.verifyUncached(token);
    this.cache.set(token, principal);
    return principal;
  }

  private async verifyUncached(token: string): Promise<AccessTokenPrincipal> {
    return this.verifyParsed(parseCompactJws(token, this.prefilter.maxTokenBytes));
  }

  /**
   * Verifies a parsed token as one of this module's own: header checks, the key selected by `kid`, the signature,
   * the claims. No cache (the caller has one).
   */
  async verifyParsed(jws: PrefilteredJws): Promise<AccessTokenPrincipal> {
    checkJoseHeader(jws.header, this.headerProfile);
    requireSignature(jws);
    const token = jws.token;
    const entry = this.entries.get(jws.header.kid);
    if (!entry) throw new TokenVerificationError('signature_invalid', { reason: 'unknown_kid' });
    if (!entry.key.algorithms.includes(jws.header.alg as never)) throw new TokenVerificationError('algorithm_not_allowed', { reason: 'alg_not_for_key' });

    if (entry.jwt) {
      try {
        entry.jwt.verify(token);
      } catch (error) {
        throw new TokenVerificationError('signature_invalid', { cause: error });
      }
    } else if (!cryptoVerify(null, Buffer.from(jws.signingInput), entry.key.verifyKey, jws.signature)) {
      throw new TokenVerificationError('signature_invalid');
    }

    return validateAccessTokenClaims(jws.payload, entry.key.kid, {
      issuer: this.options.issuer,
      audiences: this.options.audiences,
      nowSec: this.clock.nowSec(),
      clockToleranceSec: this.options.clockToleranceSec,
      maxLifetimeSec: this.options.maxAccessTokenTtlSec,
    });
  }

  /**
   * Adds a key to the ring at run time (a rotation shared through the store): tokens signed with it verify at
   * once. A kid already in the ring is left as it is (keys are immutable once known).
   */
  addKey(key: ResolvedKey): void {
    if (this.entries.has(key.kid)) return;
    this.entries.set(key.kid, { key, jwt: key.algorithms[0] === 'EdDSA' ? undefined : this.jwtServiceFor(key, ACCESS_TOKEN_TYPE) });
    for (const alg of key.algorithms) this.headerProfile.allowedAlgorithms.add(alg);
  }

  /** Makes `kid`, a key of the ring that can sign, the one that signs new tokens. */
  useSigningKey(kid: string): void {
    const key = this.entries.get(kid)?.key;
    if (!key?.signKey) throw new TypeError(`jwt-defense: kid "${kid}" is not a key of the ring that can sign`);
    this.options.signingKey = key;
  }

  /** Leaves a retired key out of the JWKS; it stays known, so its tokens are refused as revoked, not as unknown. */
  unpublish(kid: string): void {
    this.unpublished.add(kid);
  }

  /** The ring, without key material: kid, algorithms, whether it can sign, signs now, is published. */
  describeKeys(): Array<{ kid: string; algorithms: readonly string[]; canSign: boolean; signing: boolean; published: boolean }> {
    return [...this.entries.values()].map(({ key }) => ({
      kid: key.kid,
      algorithms: key.algorithms,
      canSign: key.signKey !== undefined,
      signing: key.kid === this.options.signingKey?.kid,
      published: !key.symmetric && !this.unpublished.has(key.kid),
    }));
  }

  /** The public keys of the ring, for `/.well-known/jwks.json`. HS secrets and retired keys are never published. */
  getJwks(): JsonWebKeySet {
    const keys: PublicJwk[] = [];
    for (const { key } of this.entries.values()) {
      if (this.unpublished.has(key.kid)) continue;
      const jwk = toPublicJwk(key);
      if (jwk) keys.push(jwk);
    }
    return { keys };
  }

  private jwtServiceFor(key: ResolvedKey, tokenType: string): JwtService {
    const header = { alg: key.algorithms[0], typ: tokenType, kid: key.kid };
    // KeyObjects, imported once at boot: with a string secret, jsonwebtoken would try createPublicKey on
    // every verify (~340 µs measured here).
    return new JwtService({
      ...(key.symmetric ? { secret: key.verifyKey } : { publicKey: key.verifyKey, privateKey: key.signKey }),
      signOptions: { algorithm: key.algorithms[0] as never, header: header as never, noTimestamp: false },
      // Time and registered claims are checked by validateAccessTokenClaims, against the injected clock.
      verifyOptions: { algorithms: [...key.algorithms] as never, ignoreExpiration: true, ignoreNotBefore: true },
    });
  }

  private signEdDsa(key: ResolvedKey, payload: object): string {
    const header = { alg: 'EdDSA', typ: this.options.tokenType, kid: key.kid };
    const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
    return `${input}.${cryptoSign(null, Buffer.from(input), key.signKey!).toString('base64url')}`;
  }
}

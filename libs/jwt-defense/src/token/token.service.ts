import { sign as cryptoSign } from 'node:crypto';
import { Inject, Injectable, Optional } from '@nestjs/common';
import { JwtService } from '@nestjs/jwt';
import { DefenseClock } from '../common/defense-clock.js';
import type { HeaderProfile, JoseHeader } from '../edge/compact-jws.js';
import { KID_PATTERN } from '../jwt-defense.constants.js';
import { TokenVerificationError } from '../errors/defense.exceptions.js';
import { ACCESS_TOKEN_TYPE } from '../jwt-defense.constants.js';
import { DEFENSE_METRICS } from '../jwt-defense.tokens.js';
import { NOOP_METRICS_SINK, type DefenseMetricsSink } from '../pipeline/metrics-sink.js';
import type { AccessTokenPrincipal } from './access-token-claims.js';
import { verifyAccessToken, type IssuerKeyResolver, type VerificationContext } from './access-token-verification.js';
import { IssueClock } from './issue-clock.js';
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
  /** @nestjs/jwt bound to this key's private KeyObject, to sign (absent for a verify-only key, and for EdDSA, which jsonwebtoken 9 lacks). */
  readonly jwt?: JwtService;
}

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

/**
 * Layer 1: issues and verifies access tokens (RFC 9068 `at+jwt`). Pure: no store, no HTTP.
 *
 * Verification never trusts the token's `alg` alone: the pre-filter requires a known `kid`, and the
 * algorithm must be on that key's own allow-list, so an HS256 token can never be checked against an
 * RSA/EC public key. The ring is this module's `IssuerKeyResolver` in the one verification
 * (`verifyAccessToken`), which `AccessTokenVerifier` runs with the same context, so there is one cache.
 */
@Injectable()
export class TokenService {
  private readonly entries = new Map<string, KeyEntry>();
  private readonly headerProfile: HeaderProfile & { allowedAlgorithms: Set<string> };
  private readonly unpublished = new Set<string>();
  /** What every verification shares, the one verified-token cache included (`AccessTokenVerifier` uses it too). @internal */
  readonly verification: VerificationContext;
  /** This module's key ring as the one verification's resolver. @internal */
  readonly keyResolver: IssuerKeyResolver;
  private readonly ringOnly = (): IssuerKeyResolver => this.keyResolver;

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
    clock: DefenseClock,
    @Optional() @Inject(DEFENSE_METRICS) metrics: DefenseMetricsSink = NOOP_METRICS_SINK,
    // In the module: the store's clock dates the tokens `issue()` mints (what revocation epochs compare with).
    @Optional() private readonly issueClock: IssueClock = clock,
  ) {
    // Keys are imported once, here, into KeyObjects: no key parsing per request.
    const keys = options.keys.map((key, index) => resolveKey(key, index, `token.keys[${index}]`));
    for (const key of keys) this.entries.set(key.kid, this.entryFor(key));
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
    this.headerProfile = { types: [ACCESS_TOKEN_TYPE], allowedAlgorithms: new Set(keys.flatMap((key) => key.algorithms)), kidPattern: KID_PATTERN };
    this.verification = { maxTokenBytes: options.maxTokenBytes, cache: new VerifiedTokenCache(options.verifiedTokenCacheSize), clock, metrics };
    const entries = this.entries;
    this.keyResolver = {
      profile: this.headerProfile,
      rules: {
        issuer: this.options.issuer,
        audiences: this.options.audiences,
        clockToleranceSec: this.options.clockToleranceSec,
        maxLifetimeSec: this.options.maxAccessTokenTtlSec,
      },
      key(header: JoseHeader): ResolvedKey {
        const entry = entries.get(header.kid);
        if (!entry) throw new TokenVerificationError('signature_invalid', { reason: 'unknown_kid' });
        return entry.key;
      },
    };
  }

  /** This module's own issuer (`iss` of the tokens it issues). */
  get issuer(): string {
    return this.options.issuer;
  }

  /** Whether this module has keys of its own (`token.keys`): without them, the ops module mounts no key endpoints. */
  get hasOwnKeys(): boolean {
    return true;
  }

  /** `kid` of the key that signs new tokens (`undefined` for a verify-only ring). */
  get signingKid(): string | undefined {
    return this.options.signingKey?.kid;
  }

  /**
   * Issues an access token for `subject` with extra `claims` (e.g. `roles`, `scope`, and `sid`, the refresh
   * session it belongs to, so that revoking the session revokes its access tokens), dated now by the clock the
   * module dates logins with (the store's, what revocation epochs compare with; standalone: the `DefenseClock`).
   */
  async issue(subject: string, claims: Record<string, unknown> = {}, issueOptions: IssueOptions = {}): Promise<IssuedAccessToken> {
    return this.issueAt(await this.issueClock.nowMs(), subject, claims, issueOptions);
  }

  /**
   * {@link issue} at `nowMs`, a time the caller read from the store's clock (a login's session time, or
   * `EpochClock`): no clock read here, no I/O. @internal
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
   * Verifies one of this module's access tokens: pre-filter (structure, header, `kid`, `typ`), signature with the
   * key selected by `kid`, then claims, through the one verification and its cache. Throws
   * {@link TokenVerificationError} with a stable `code`.
   */
  async verify(token: string): Promise<AccessTokenPrincipal> {
    return verifyAccessToken(token, this.ringOnly, this.verification);
  }

  /**
   * Adds a key to the ring at run time (a rotation shared through the store): tokens signed with it verify at
   * once. A kid already in the ring is left as it is (keys are immutable once known).
   */
  addKey(key: ResolvedKey): void {
    if (this.entries.has(key.kid)) return;
    this.entries.set(key.kid, this.entryFor(key));
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

  /** @nestjs/jwt signs with every key it supports whose private half (or secret) is here; EdDSA signs with node:crypto. */
  private entryFor(key: ResolvedKey): KeyEntry {
    if (!key.signKey || key.algorithms[0] === 'EdDSA') return { key };
    const header = { alg: key.algorithms[0], typ: ACCESS_TOKEN_TYPE, kid: key.kid };
    // KeyObjects, imported once at boot: no key parsing per token.
    const jwt = new JwtService({
      ...(key.symmetric ? { secret: key.signKey } : { privateKey: key.signKey }),
      signOptions: { algorithm: key.algorithms[0] as never, header: header as never, noTimestamp: false },
    });
    return { key, jwt };
  }

  private signEdDsa(key: ResolvedKey, payload: object): string {
    const header = { alg: 'EdDSA', typ: this.options.tokenType, kid: key.kid };
    const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
    return `${input}.${cryptoSign(null, Buffer.from(input), key.signKey!).toString('base64url')}`;
  }
}

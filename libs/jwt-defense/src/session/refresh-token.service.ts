import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { DefenseClock } from '../common/defense-clock.js';
import { EpochClock } from '../common/epoch-clock.js';
import { DpopService } from '../dpop/dpop.service.js';
import { DpopProofException, TokenVerificationError } from '../errors/defense.exceptions.js';
import { SecurityEventService } from '../events/security-event.service.js';
import { RevocationPolicy } from '../revocation/revocation.policy.js';
import { RevocationService } from '../revocation/revocation.service.js';
import { SessionStore, type RefreshSessionRecord } from '../store/defense-store.ports.js';
import { newSid, SID_LENGTH, USER_TAG_LENGTH, userIdentity } from '../token/token-ids.js';
import { TokenService, checkOwnSubject, type IssuedAccessToken } from '../token/token.service.js';
import { SessionOptions } from './session.options.js';

/** An access token and the refresh token that can replace it. */
export interface TokenPair {
  readonly accessToken: IssuedAccessToken;
  /** Opaque: `<user tag>.<session id>.<generation>.<HMAC>`. */
  readonly refreshToken: string;
  /** The refresh session (family) both belong to; also the access token's `sid` claim. */
  readonly sid: string;
  /** When the session ends, epoch ms. */
  readonly refreshExpiresAtMs: number;
  /** `DPoP` when the session is bound to a key (every access token carries `cnf.jkt`), else `Bearer`. */
  readonly tokenType: 'Bearer' | 'DPoP';
}

/**
 * Recomputes the claims of the access token minted by a refresh (e.g. the user's current roles), from the
 * subject and the claims given at login. Return `null` when the subject may no longer have a session (a
 * deleted or disabled user): the session is revoked and the refresh refused.
 */
export type RefreshClaimsHook = (
  sub: string,
  loginClaims: Readonly<Record<string, unknown>>,
) => Record<string, unknown> | null | Promise<Record<string, unknown> | null>;

export interface RefreshOptions {
  /** Recomputes the access token's claims; default: the claims given at login. */
  claims?: RefreshClaimsHook;
  /**
   * The refresh request (the framework's or Node's): its DPoP proof, when it sends one, is checked after the refresh
   * token (a forged refresh token costs no proof verification) and recorded in the same store step as the rotation (a
   * replayed proof rotates nothing). Required to refresh a session bound to a key: by a proof of that key.
   */
  request?: unknown;
}

export interface IssuePairOptions {
  /** Binds the session to a key (RFC 9449): the thumbprint of the login request's DPoP proof key. */
  jkt?: string;
}

const REFRESH_TOKEN = new RegExp(`^([A-Za-z0-9_-]{${USER_TAG_LENGTH}})\\.([A-Za-z0-9_-]{${SID_LENGTH}})\\.(0|[1-9][0-9]{0,8})\\.([A-Za-z0-9_-]{43})$`);

function mac(key: string, sid: string, generation: number): Buffer {
  return createHmac('sha256', Buffer.from(key, 'base64url')).update(`${sid}.${generation}`).digest();
}

/**
 * Refresh tokens with rotation and reuse detection (RFC 9700 §4.14). Each session (token family) keeps one
 * generation counter and an HMAC key, O(1) per session: the token of generation g is HMAC(key, sid.g). Using
 * it moves the session to g+1; presenting an older, authentic one is reuse, and revokes the session with all
 * its access tokens (they carry `sid`). A forged token (bad HMAC) changes nothing. Every access token of a
 * session carries `auth_time` (the session's login), kept across refreshes, which revocation epochs compare with.
 * @hideconstructor
 */
@Injectable()
export class RefreshTokenService {
  constructor(
    @Inject(SessionStore) private readonly store: SessionStore,
    private readonly options: SessionOptions,
    private readonly tokens: TokenService,
    private readonly revocation: RevocationService,
    private readonly policy: RevocationPolicy,
    private readonly events: SecurityEventService,
    private readonly clock: DefenseClock,
    private readonly epochs: EpochClock,
    private readonly dpop: DpopService,
  ) {}

  /**
   * Starts a session: a new access token (with `sid` and `auth_time`) and its first refresh token. With a `jkt`
   * (from the login request's DPoP proof), every access token of the session is bound to that key (`cnf.jkt`).
   */
  async issuePair(sub: string, claims: Record<string, unknown> = {}, options: IssuePairOptions = {}): Promise<TokenPair> {
    // Checked before the session is stored: a subject the token cannot carry, or no key to sign it, leaves nothing behind.
    this.tokens.signingKeyOrThrow();
    checkOwnSubject(sub);
    if ('cnf' in claims) throw new TypeError('jwt-defense: issuePair() sets cnf itself: pass { jkt } in its options');
    if (options.jkt !== undefined) claims = { ...claims, cnf: { jkt: options.jkt } };
    // The login time is what revocation epochs are compared with: read from the same clock as they are (EpochClock).
    const nowMs = await this.epochs.nowMs();
    const session: RefreshSessionRecord = {
      sid: newSid(nowMs),
      tag: userIdentity(sub).tag,
      sub,
      key: randomBytes(32).toString('base64url'),
      generation: 0,
      createdAtMs: nowMs,
      expiresAtMs: nowMs + this.options.refreshTokenTtlSec * 1000,
      claims: JSON.stringify(claims),
    };
    const overLimit = await this.store.createSession(session, { maxPerUser: this.options.maxSessionsPerUser, revokedRetainMs: this.policy.revokedSessionRetainMs });
    for (const sid of overLimit) {
      this.events.record('session_revoked', { sub, reason: 'session_limit', details: { sid, actor: 'system', maxSessionsPerUser: this.options.maxSessionsPerUser } });
    }
    // The access token is dated with the session's time: one read of the store's clock per login.
    return this.pair(session, 0, claims, nowMs);
  }

  /**
   * Exchanges a refresh token for a new pair; the one used is dead afterwards. With `request`, its DPoP proof (when
   * sent, and DPoP is not `off`) is verified after the refresh token and recorded with the rotation: a replayed proof
   * is `DpopProofException` (401 `invalid_dpop_proof`) and changes nothing. Throws
   * {@link TokenVerificationError}: `token_malformed` (not one of ours), `signature_invalid` (forged),
   * `token_expired` (unknown or ended session), `token_revoked` (revoked session, or reuse, which revokes it).
   * A store failure is thrown as `DefenseStoreError` (503).
   */
  async refresh(refreshToken: string, refreshOptions: RefreshOptions = {}): Promise<TokenPair> {
    const match = typeof refreshToken === 'string' ? REFRESH_TOKEN.exec(refreshToken) : null;
    if (!match) throw new TokenVerificationError('token_malformed');
    const [, tag, sid, generationText, presented] = match;
    // One spelling per MAC: base64url's last character carries spare bits that decoding ignores.
    const presentedMac = Buffer.from(presented, 'base64url');
    if (presentedMac.toString('base64url') !== presented) throw new TokenVerificationError('token_malformed');
    const generation = Number(generationText);
    const session = await this.store.getSession(tag, sid);
    const nowMs = this.clock.nowMs();
    if (!session || session.expiresAtMs <= nowMs) throw new TokenVerificationError('token_expired');
    if (!timingSafeEqual(mac(session.key, sid, generation), presentedMac)) throw new TokenVerificationError('signature_invalid');
    if (session.revokedReason !== undefined) throw new TokenVerificationError('token_revoked');
    if (this.revocation.isSessionCoveredByGlobalEpoch(session.createdAtMs)) throw new TokenVerificationError('token_revoked');

    const loginClaims = JSON.parse(session.claims) as Record<string, unknown>;
    // The proof only now, once the refresh token is known to be genuine: a forged one costs no signature check.
    const proof = refreshOptions.request === undefined ? undefined : await this.dpop.proofForRefresh(refreshOptions.request);
    // A bound session refreshes only with a proof by its key (RFC 9449 §5): a stolen refresh token alone is useless.
    const cnf = loginClaims.cnf as { jkt?: string } | undefined;
    if (cnf?.jkt !== undefined && proof?.jkt !== cnf.jkt) {
      throw new DpopProofException('invalid_dpop_proof', proof ? 'refresh_key_mismatch' : 'refresh_proof_missing');
    }
    const recomputed = refreshOptions.claims ? await refreshOptions.claims(session.sub, loginClaims) : loginClaims;
    const claims = recomputed && cnf ? { ...recomputed, cnf } : recomputed;
    if (claims === null) {
      await this.revocation.revokeSession(session.sub, sid, 'subject_gone', 'system');
      throw new TokenVerificationError('token_revoked');
    }
    const outcome = await this.store.rotateSession(tag, sid, session.sub, generation, {
      globalNotBeforeMs: this.revocation.globalNotBeforeMs,
      nowMs,
      reuseGraceMs: this.options.reuseGraceSec * 1000,
      revokedRetainMs: this.policy.revokedSessionRetainMs,
      ...(proof ? { dpopProof: { key: proof.replayKey, ttlMs: this.dpop.replayTtlMs } } : {}),
    });
    if (outcome === 'proof_replayed') this.dpop.refused(refreshOptions.request, new DpopProofException('invalid_dpop_proof', 'replay'));
    if (outcome === 'rotated' || outcome === 'replayed') return this.pair(session, generation + 1, claims);
    if (outcome === 'reuse') {
      this.events.record('refresh_token_reuse', { sub: session.sub, reason: 'a rotated refresh token was used again', details: { sid } });
      throw new TokenVerificationError('token_revoked');
    }
    throw new TokenVerificationError(outcome === 'revoked' ? 'token_revoked' : 'token_expired');
  }

  private async pair(session: RefreshSessionRecord, generation: number, claims: Record<string, unknown>, issuedAtMs?: number): Promise<TokenPair> {
    const accessClaims = { ...claims, sid: session.sid, auth_time: Math.floor(session.createdAtMs / 1000) };
    // Dated by the store's clock, as the revocation epochs it is compared with (token/ reads no store).
    const accessToken = this.tokens.issueAt(issuedAtMs ?? (await this.epochs.nowMs()), session.sub, accessClaims);
    const refreshToken = `${session.tag}.${session.sid}.${generation}.${mac(session.key, session.sid, generation).toString('base64url')}`;
    const tokenType = (claims.cnf as { jkt?: string } | undefined)?.jkt ? 'DPoP' : 'Bearer';
    return { accessToken, refreshToken, sid: session.sid, refreshExpiresAtMs: session.expiresAtMs, tokenType };
  }
}

import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { Inject, Injectable } from '@nestjs/common';
import { calculateJwkThumbprint, compactVerify, importJWK, type JWK } from 'jose';
import { DefenseClock } from '../common/defense-clock.js';
import { rawRequest } from '../common/http.js';
import { parseCompactJws } from '../edge/compact-jws.js';
import { jwkOutOfBounds } from '../edge/jwk-bounds.js';
import { DpopProofException, UseDpopNonceException } from '../errors/defense.exceptions.js';
import { ClientIpResolver } from '../edge/client-ip.js';
import { SecurityEventService } from '../events/security-event.service.js';
import { RequestCheckStore } from '../store/defense-store.ports.js';
import { userIdentity } from '../token/token-ids.js';
import { DpopOptions } from './dpop.options.js';

/** A proof that passed every check: the thumbprint of its key, its id and time. */
export interface DpopProof {
  /** RFC 7638 SHA-256 thumbprint of the proof's public key: what a bound token's `cnf.jkt` must be. */
  readonly jkt: string;
  readonly jti: string;
  /** Epoch seconds. */
  readonly iat: number;
  /** The replay key of this proof (a hash of its key and jti), recorded in the request's ONE store call. */
  readonly replayKey: string;
}

const MAX_PROOF_BYTES = 4096;
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
const REFUSED_HEADER_PARAMS = ['jku', 'x5u', 'x5c', 'kid', 'crit', 'b64'];

function fail(reason: string, challengeError: 'invalid_dpop_proof' | 'invalid_token' = 'invalid_dpop_proof'): never {
  throw new DpopProofException(challengeError, reason);
}

function countHeaders(request: IncomingMessage, name: string): number {
  let count = 0;
  for (let i = 0; i < request.rawHeaders.length; i += 2) if (request.rawHeaders[i].toLowerCase() === name) count++;
  return count;
}

/** `scheme://host[:port]/path` with the scheme and host lower-cased and the default port dropped (RFC 9449 §4.3). */
function normalizedUri(value: string, base?: string): string | undefined {
  try {
    const url = new URL(value, base);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return undefined;
  }
}

/**
 * Checks DPoP proofs (RFC 9449): `typ: dpop+jwt`, an asymmetric algorithm from the allow-list, a public `jwk`
 * only (never a `kid`, `jku`, `x5u` or `x5c`), the signature by that key, `htm` and `htu` against the request
 * (without query and fragment), `iat` within `proofWindowSec`, a `jti`, `ath` = SHA-256 of the access token when
 * there is one, and the server nonce when nonces are on. The replay check (the `jti` seen before) is part of the
 * request's ONE store call, so it holds across instances.
 * @hideconstructor
 */
@Injectable()
export class DpopService {
  private readonly nonceKey: Buffer;

  constructor(
    readonly options: DpopOptions,
    private readonly clock: DefenseClock,
    @Inject(RequestCheckStore) private readonly store: RequestCheckStore,
    private readonly events: SecurityEventService,
    private readonly clientIp: ClientIpResolver,
  ) {
    this.nonceKey = options.nonceSecret ? Buffer.from(options.nonceSecret, 'utf8') : randomBytes(32);
  }

  /**
   * For a login (a token endpoint that starts a session): the request's proof when it sends one and DPoP is not
   * `off`, else `undefined` (tokens then stay Bearer: RFC 9449 §5, a server without DPoP ignores the header). The proof
   * is verified and its `jti` recorded, under `subject`'s state (the user logging in; default: the proof key's own), so
   * a replayed proof is refused like anywhere else: 401 `invalid_dpop_proof`. Call it once the credentials are checked.
   * Throws `DpopProofException`, `UseDpopNonceException` (401 `use_dpop_nonce`), or `DefenseStoreError` (503).
   * A refresh checks its proof itself (`RefreshTokenService.refresh(token, { request })`).
   */
  async proofForBinding(httpRequest: unknown, subject?: string): Promise<DpopProof | undefined> {
    const proof = await this.proofForRefresh(httpRequest);
    if (proof && !(await this.store.recordProof(userIdentity(subject ?? `dpop ${proof.jkt}`).tag, proof.replayKey, this.replayTtlMs))) {
      this.refused(httpRequest, new DpopProofException('invalid_dpop_proof', 'replay'));
    }
    return proof;
  }

  /**
   * A token endpoint's proof, verified but not yet recorded: the caller records it in its own store step (a refresh,
   * with the rotation). `undefined` when none is sent or DPoP is `off`. @internal
   */
  async proofForRefresh(httpRequest: unknown): Promise<DpopProof | undefined> {
    if (this.options.mode === 'off' || rawRequest(httpRequest).headers.dpop === undefined) return undefined;
    try {
      return await this.verifyProof(httpRequest);
    } catch (error) {
      if (error instanceof DpopProofException) this.refused(httpRequest, error);
      throw error;
    }
  }

  /**
   * A token endpoint's refused proof (the pipeline records those of other routes): a `dpop_proof_invalid` event,
   * sampled per client and reason, never the proof itself. Throws `error`. @internal
   */
  refused(httpRequest: unknown, error: DpopProofException): never {
    const ip = this.clientIp.resolve(rawRequest(httpRequest));
    this.events.recordSampled('dpop_proof_invalid', `${ip}:${error.reason ?? error.challengeError}`, {
      ip,
      ...(error.reason ? { reason: error.reason } : {}),
      details: { endpoint: 'token', challenge: error.challengeError },
    });
    throw error;
  }

  /**
   * The request's proof, checked for the request's method and URL; with `accessToken`, also bound to it (`ath`). Not
   * its replay: the pipeline records the proof in the request's ONE store call, `proofForBinding` and the refresh in
   * theirs. Cheap checks come first, then the key's bounds, then the signature. Throws `DpopProofException` (401
   * `invalid_dpop_proof`) or `UseDpopNonceException` (401 `use_dpop_nonce`). @internal
   */
  async verifyProof(httpRequest: unknown, options: { accessToken?: string } = {}): Promise<DpopProof> {
    const request = rawRequest(httpRequest);
    const header = request.headers.dpop;
    if (typeof header !== 'string' || countHeaders(request, 'dpop') !== 1) fail('proof_missing');
    if (header.length > MAX_PROOF_BYTES) fail('proof_oversized');
    let jws;
    try {
      jws = parseCompactJws(header, MAX_PROOF_BYTES);
    } catch {
      fail('proof_malformed');
    }
    const { header: protectedHeader, payload } = jws;
    if (typeof protectedHeader.typ !== 'string' || protectedHeader.typ.toLowerCase() !== 'dpop+jwt') fail('proof_typ');
    const alg = protectedHeader.alg;
    if (!(this.options.algorithms as readonly string[]).includes(alg)) fail('proof_alg');
    for (const name of REFUSED_HEADER_PARAMS) if (name in protectedHeader) fail(`proof_header_${name}`);
    const jwk = protectedHeader.jwk as JWK | undefined;
    if (jwk === null || typeof jwk !== 'object' || Array.isArray(jwk) || !['EC', 'OKP', 'RSA'].includes(String(jwk.kty))) fail('proof_jwk');
    if (PRIVATE_MEMBERS.some((member) => member in jwk)) fail('proof_private_jwk');
    const { jti, htm, htu, iat, ath, nonce } = payload;
    if (typeof jti !== 'string' || jti.length === 0 || jti.length > 256) fail('proof_jti');
    if (htm !== request.method) fail('proof_htm');
    if (typeof htu !== 'string' || normalizedUri(htu) === undefined || normalizedUri(htu) !== this.expectedUri(request)) fail('proof_htu');
    const nowSec = this.clock.nowSec();
    if (typeof iat !== 'number' || !Number.isFinite(iat) || Math.abs(nowSec - iat) > this.options.proofWindowSec) fail('proof_iat');
    if (options.accessToken !== undefined) {
      const expected = createHash('sha256').update(options.accessToken).digest('base64url');
      if (ath !== expected) fail('proof_ath');
    }
    // Bounded before any crypto: a 3,000-bit RSA exponent would cost milliseconds per request.
    const outOfBounds = jwkOutOfBounds(jwk as Record<string, unknown>, alg);
    if (outOfBounds) fail(`proof_${outOfBounds}`);
    try {
      await compactVerify(header, await importJWK(jwk, alg), { algorithms: [alg] });
    } catch {
      fail('proof_signature');
    }
    if (this.options.nonce && (typeof nonce !== 'string' || !this.nonceIsValid(nonce))) throw new UseDpopNonceException(this.currentNonce());
    const jkt = await calculateJwkThumbprint(jwk, 'sha256');
    return { jkt, jti, iat, replayKey: createHash('sha256').update(`${jkt}.${jti}`).digest('base64url').slice(0, 22) };
  }

  /** How long a proof's replay record must be kept: the proof window on both sides, ms. */
  get replayTtlMs(): number {
    return 2 * this.options.proofWindowSec * 1000 + 1000;
  }

  /** The nonce a proof must carry now (when nonces are on). Changes every `nonceLifetimeSec`; the previous one still passes. */
  currentNonce(): string {
    return this.nonceFor(Math.floor(this.clock.nowMs() / (this.options.nonceLifetimeSec * 1000)));
  }

  private nonceIsValid(nonce: string): boolean {
    const window = Math.floor(this.clock.nowMs() / (this.options.nonceLifetimeSec * 1000));
    return nonce === this.nonceFor(window) || nonce === this.nonceFor(window - 1);
  }

  private nonceFor(window: number): string {
    return createHmac('sha256', this.nonceKey).update(`dpop-nonce.${window}`).digest('base64url').slice(0, 32);
  }

  /** The request's URI as a proof's `htu` must say it: from `publicUrl`, else the scheme and `Host` header. */
  private expectedUri(request: IncomingMessage): string | undefined {
    const path = (request.url ?? '/').split('?')[0].split('#')[0];
    if (this.options.publicUrl !== undefined) return normalizedUri(path.replace(/^\/*/, '/'), this.options.publicUrl);
    const host = request.headers.host;
    if (typeof host !== 'string' || host.length === 0) return undefined;
    const scheme = (request.socket as TLSSocket | undefined)?.encrypted ? 'https' : 'http';
    return normalizedUri(`${scheme}://${host}${path}`);
  }
}

import { Recency } from '../common/recency.js';
import { checkTokenTimes, type AccessTokenPrincipal } from './access-token-claims.js';

interface Entry {
  readonly principal: AccessTokenPrincipal;
  /** The clock tolerance of the issuer that verified it (this module's, or an external issuer's), in seconds. */
  readonly clockToleranceSec: number;
  /** Its place in the least-recently-used order (`Recency`). */
  stamp: number;
}

/**
 * The one cache of verified tokens: principals of tokens whose signature and claims were verified (this module's
 * and external issuers' alike), keyed by the whole token, so a repeat request skips the signature check (50-110 µs
 * for ES256). The Map hashes the whole key; only tokens that passed verification are ever inserted, so no input can
 * poison it, and a key is at most `maxTokenBytes`. (A SHA-256 of the token per request was measured among the top
 * items of a Fastify profile.) Bounded (least recently used go first, to within a quarter of the size); every hit is re-checked against the clock
 * (`checkTokenTimes`, as a fresh token is), and an expired entry is dropped. Revocation, rate limits and roles are
 * still checked on every request: only the cryptography is cached.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, Entry>();
  private readonly recency: Recency;

  /** `maxEntries` 0 turns the cache off. */
  constructor(private readonly maxEntries: number) {
    this.recency = new Recency(maxEntries);
  }

  get enabled(): boolean {
    return this.maxEntries > 0;
  }

  /**
   * The principal cached for `token`, re-checked at `nowSec`: throws `token_expired` (the entry is dropped) or
   * `token_not_yet_valid` (the clock moved back, or a test froze it, since it was cached).
   */
  get(token: string, nowSec: number): AccessTokenPrincipal | undefined {
    const entry = this.entries.get(token);
    if (entry === undefined) return undefined;
    const { principal } = entry;
    try {
      checkTokenTimes(principal.iat, principal.exp, principal.claims.nbf, nowSec, entry.clockToleranceSec);
    } catch (error) {
      this.entries.delete(token);
      throw error;
    }
    this.recency.touch(this.entries, token, entry); // most recently used last
    return principal;
  }

  set(token: string, principal: AccessTokenPrincipal, clockToleranceSec: number): void {
    if (!this.enabled) return;
    this.entries.delete(token);
    this.recency.insert(this.entries, token, { principal, clockToleranceSec, stamp: 0 });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }

  get size(): number {
    return this.entries.size;
  }
}

import { createHash } from 'node:crypto';
import type { AccessTokenPrincipal } from './access-token-claims.js';

/**
 * Principals of tokens whose signature and claims were verified, keyed by SHA-256 of the whole token, so a
 * repeat request skips the signature check (50-110 µs for ES256). Bounded (least recently used go first),
 * an entry is dropped at the token's `exp` (+ clock tolerance). Revocation, rate limits and roles are still
 * checked on every request: only the cryptography is cached.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, AccessTokenPrincipal>();

  constructor(
    private readonly maxEntries: number,
    private readonly clockToleranceSec: number,
  ) {}

  static keyOf(token: string): string {
    return createHash('sha256').update(token).digest('base64url');
  }

  get(key: string, nowSec: number): AccessTokenPrincipal | undefined {
    const principal = this.entries.get(key);
    if (principal === undefined) return undefined;
    this.entries.delete(key);
    if (nowSec >= principal.exp + this.clockToleranceSec) return undefined;
    this.entries.set(key, principal); // most recently used last
    return principal;
  }

  set(key: string, principal: AccessTokenPrincipal): void {
    this.entries.set(key, principal);
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }

  get size(): number {
    return this.entries.size;
  }
}

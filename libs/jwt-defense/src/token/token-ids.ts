import { createHash, randomBytes } from 'node:crypto';

/**
 * Identifiers that let the store find a user's state without any index.
 *
 * - The user tag is a short hash of `sub`: it is the Redis Cluster hash tag (`{u:<tag>}`) of every
 *   per-user key, so the per-request check touches one slot.
 * - Our `jti` is `<tag 12><issued-at ms 8><random 22>` (base64url, 42 chars): from the jti alone an incident
 *   responder can revoke the token (the tag finds the slot), and revoke-all can compare at millisecond
 *   precision although `iat` has one-second resolution (a login in the same second as a revoke-all works).
 */
export const USER_TAG_LENGTH = 12;
const TIME_LENGTH = 8;
const RANDOM_BYTES = 16;
export const OWN_JTI_LENGTH = USER_TAG_LENGTH + TIME_LENGTH + 22;
const OWN_JTI = /^[A-Za-z0-9_-]{42}$/;

/** The Cluster hash tag part for a subject: 72 bits of SHA-256, base64url. */
export function userTag(sub: string): string {
  return createHash('sha256').update(sub, 'utf8').digest('base64url').slice(0, USER_TAG_LENGTH);
}

export function newJti(sub: string, issuedAtMs: number): string {
  const time = Buffer.alloc(6);
  time.writeUIntBE(issuedAtMs, 0, 6);
  return `${userTag(sub)}${time.toString('base64url')}${randomBytes(RANDOM_BYTES).toString('base64url')}`;
}

/** The tag and issue time embedded in one of our jtis, or `undefined` for a jti of another format. */
export function parseOwnJti(jti: string): { tag: string; issuedAtMs: number } | undefined {
  if (jti.length !== OWN_JTI_LENGTH || !OWN_JTI.test(jti)) return undefined;
  const time = Buffer.from(jti.slice(USER_TAG_LENGTH, USER_TAG_LENGTH + TIME_LENGTH), 'base64url');
  return { tag: jti.slice(0, USER_TAG_LENGTH), issuedAtMs: time.readUIntBE(0, 6) };
}

/**
 * When the token was issued, in epoch ms, for revocation epochs: the jti's embedded time when it is ours and
 * consistent with `iat` and `sub`; otherwise the start of the `iat` second (so a revoke-all in that second
 * rejects it: in doubt, refuse).
 */
export function issuedAtMs(principal: { sub: string; jti: string; iat: number }, tag = userTag(principal.sub)): number {
  const own = parseOwnJti(principal.jti);
  const iatMs = Math.floor(principal.iat) * 1000;
  if (own && own.issuedAtMs >= iatMs && own.issuedAtMs < iatMs + 1000 && own.tag === tag) {
    return own.issuedAtMs;
  }
  return iatMs;
}

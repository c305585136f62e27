import { createHash, randomBytes } from 'node:crypto';

/**
 * Identifiers that let the store find a user's state without any index.
 *
 * - The user tag is a short hash of `sub`: it is the Redis Cluster hash tag (`{u:<tag>}`) of every
 *   per-user key, so the per-request check touches one slot.
 * - Our `jti` is `<tag 12><issued-at ms 8><random 22><check 8>` (base64url, 50 chars): from the jti alone an
 *   incident responder can revoke the token (the tag finds the slot), and revoke-all can compare at millisecond
 *   precision although `iat` has one-second resolution (a login in the same second as a revoke-all works). The
 *   check (48 bits of SHA-256 over the rest) tells our jtis from another issuer's that merely look alike, so a
 *   revocation by jti alone never lands under the wrong user: a jti that is not provably ours needs its `sub`.
 * - Our session id (`sid`) is `<created-at ms 8><random 14>` (22 chars): a token refreshed from a session
 *   carries the session's login time at millisecond precision, for the same reason.
 */
export const USER_TAG_LENGTH = 12;
const TIME_LENGTH = 8;
const RANDOM_BYTES = 16;
const RANDOM_LENGTH = 22;
const CHECK_LENGTH = 8;
export const OWN_JTI_LENGTH = USER_TAG_LENGTH + TIME_LENGTH + RANDOM_LENGTH + CHECK_LENGTH;
const OWN_JTI = new RegExp(`^[A-Za-z0-9_-]{${OWN_JTI_LENGTH}}$`);
export const SID_LENGTH = 22;

/** Control characters (C0, DEL, C1): never in this module's own subjects nor in an issuer, so they can separate the two. */
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/;
/** Between an external issuer and its subject in a user's key (the ASCII unit separator). */
const ISSUER_SEPARATOR = '\u001f';

/** True when `value` holds a control character: refused in this module's subjects (at issue and at verification) and in issuers. */
export function hasControlCharacter(value: string): boolean {
  return CONTROL_CHARACTER.test(value);
}

/**
 * The key of a user's state in the store, one per (issuer, subject), without ambiguity: the bare subject for this
 * module's own tokens (their subjects never hold a control character), `<issuer>\u001f<subject>` for an external
 * issuer's (an issuer never holds one, so the first separator ends it). Users of two issuers, or a local user named
 * like an external one, never share state (revocation epochs, denylist, counters, contexts).
 */
export function subjectKey(issuer: string, sub: string, ownIssuer: string): string {
  return issuer === ownIssuer ? sub : externalSubjectKey(issuer, sub);
}

/** {@link subjectKey} of an external issuer's user (for callers that do not know this module's issuer: the CLI). */
export function externalSubjectKey(issuer: string, sub: string): string {
  return `${issuer}${ISSUER_SEPARATOR}${sub}`;
}

/** The Cluster hash tag part for a subject: 72 bits of SHA-256, base64url. */
export function userTag(sub: string): string {
  return createHash('sha256').update(sub, 'utf8').digest('base64url').slice(0, USER_TAG_LENGTH);
}

/** Who a user is for the store: the key of its state (see {@link subjectKey}) and that key's Cluster hash tag. */
export interface UserIdentity {
  /** The key of the user's state: the subject, or the issuer and the subject for an external issuer (see `subjectKey`). */
  readonly subject: string;
  /** The user's Cluster hash tag (of `subject`). */
  readonly tag: string;
}

/** A verified principal's identity, and when its token's authentication dates from. */
export interface PrincipalIdentity extends UserIdentity {
  /**
   * When the token's authentication dates from, epoch ms: the session's login (`auth_time`) for a refreshed
   * token, else its issue time; ms precision for our own ids. Revocation epochs compare with this.
   */
  readonly authenticatedAtMs: number;
}

/**
 * The identity of user `sub` of issuer `iss`: the one place a user's key and tag are computed. `iss` absent, or
 * `ownIssuer`, is this module's own user; any other `iss` an external issuer's (a caller that does not know this
 * module's issuer, the CLI, passes none and names an external user by its issuer only). No checks: see
 * {@link namedUserIdentity} for a user named by an admin.
 */
export function userIdentity(sub: string, iss?: string, ownIssuer?: string): UserIdentity {
  const subject = iss === undefined || iss === ownIssuer ? sub : externalSubjectKey(iss, sub);
  return { subject, tag: userTag(subject) };
}

/** The identity of a verified principal (the pipeline computes it once per token). */
export function identityOf(principal: { sub: string; issuer: string; jti?: string; iat: number; authTime?: number; sid?: string }, ownIssuer: string | undefined): PrincipalIdentity {
  const { subject, tag } = userIdentity(principal.sub, principal.issuer, ownIssuer);
  return { subject, tag, authenticatedAtMs: authenticatedAtMs(principal, tag) };
}

/** The issuers a caller knows: this module's own (`token.issuer`) and the external ones (`issuers[].issuer`). */
export interface KnownIssuers {
  /** This module's issuer; absent when the caller does not know it (the CLI): an `iss` given is then external. */
  readonly own?: string;
  /** The external issuers; absent when the caller does not know them (the CLI): any `iss` is then accepted. */
  readonly external?: readonly string[];
  /**
   * `false` when this module has no users of its own (no `token.keys`: a provider-only API), so a bare subject names
   * nobody. Absent: it has.
   */
  readonly local?: boolean;
}

/**
 * The identity of a user an admin names (an incident action, the CLI), or `undefined` when the name reaches no user of
 * `known`: an own subject holding a control character (it would reach an external user's state), an own subject of a
 * module without users of its own, or an issuer that is neither this module's nor a configured one.
 */
export function namedUserIdentity(sub: string, iss: string | undefined, known: KnownIssuers): UserIdentity | undefined {
  if (iss === undefined || iss === known.own) return known.local === false || hasControlCharacter(sub) ? undefined : userIdentity(sub);
  if (known.external !== undefined && !known.external.includes(iss)) return undefined;
  return userIdentity(sub, iss, known.own);
}

function msPart(ms: number): string {
  const time = Buffer.alloc(6);
  time.writeUIntBE(ms, 0, 6);
  return time.toString('base64url');
}

function readMs(part: string): number {
  return Buffer.from(part, 'base64url').readUIntBE(0, 6);
}

function jtiCheck(body: string): string {
  return createHash('sha256').update('jwt-defense jti\u0000').update(body).digest().subarray(0, 6).toString('base64url');
}

export function newJti(sub: string, issuedAtMs: number): string {
  const body = `${userTag(sub)}${msPart(issuedAtMs)}${randomBytes(RANDOM_BYTES).toString('base64url')}`;
  return `${body}${jtiCheck(body)}`;
}

/** The tag and issue time embedded in one of our jtis, or `undefined` for a jti that is not provably ours. */
export function parseOwnJti(jti: string): { tag: string; issuedAtMs: number } | undefined {
  if (jti.length !== OWN_JTI_LENGTH || !OWN_JTI.test(jti)) return undefined;
  const body = jti.slice(0, OWN_JTI_LENGTH - CHECK_LENGTH);
  if (jtiCheck(body) !== jti.slice(OWN_JTI_LENGTH - CHECK_LENGTH)) return undefined;
  return { tag: jti.slice(0, USER_TAG_LENGTH), issuedAtMs: readMs(jti.slice(USER_TAG_LENGTH, USER_TAG_LENGTH + TIME_LENGTH)) };
}

/** A new session id carrying its creation time (ms). */
export function newSid(createdAtMs: number): string {
  return `${msPart(createdAtMs)}${randomBytes(10).toString('base64url').slice(0, SID_LENGTH - TIME_LENGTH)}`;
}

/**
 * When the token was issued, in epoch ms, for revocation epochs: the jti's embedded time when it is ours and
 * consistent with `iat` and `sub`; otherwise the start of the `iat` second (so a revoke-all in that second
 * rejects it: in doubt, refuse).
 */
export function issuedAtMs(principal: { sub: string; jti?: string; iat: number }, tag = userTag(principal.sub)): number {
  const own = principal.jti === undefined ? undefined : parseOwnJti(principal.jti);
  const iatMs = Math.floor(principal.iat) * 1000;
  if (own && own.issuedAtMs >= iatMs && own.issuedAtMs < iatMs + 1000 && own.tag === tag) {
    return own.issuedAtMs;
  }
  return iatMs;
}

/**
 * The instant a token's authentication dates from, in epoch ms: what revocation epochs are compared with. A
 * token refreshed from a session dates from the session's login (`auth_time`, at ms precision from our `sid`
 * when it agrees; otherwise the start of the `auth_time` second), so a refresh that raced a revoke-all still
 * yields a refused token. Without `auth_time`: its issue time. Never later than its issue time.
 */
export function authenticatedAtMs(principal: { sub: string; jti?: string; iat: number; authTime?: number; sid?: string }, tag = userTag(principal.sub)): number {
  const issued = issuedAtMs(principal, tag);
  if (principal.authTime === undefined) return issued;
  const secondMs = Math.floor(principal.authTime) * 1000;
  let authMs = secondMs;
  if (principal.sid !== undefined && principal.sid.length === SID_LENGTH && /^[A-Za-z0-9_-]+$/.test(principal.sid)) {
    const sessionMs = readMs(principal.sid.slice(0, TIME_LENGTH));
    if (sessionMs >= secondMs && sessionMs < secondMs + 1000) authMs = sessionMs;
  }
  return Math.min(authMs, issued);
}

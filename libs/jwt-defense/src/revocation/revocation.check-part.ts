import type { CheckPart } from '../store/check-part.js';
import type { RefreshSessionRecord } from '../store/defense-store.ports.js';
import { integer, replyOf } from '../store/reply.js';
import { storeVerdict } from './revocation.policy.js';

/** What the revocation layer asks of the one call about a token. */
export interface RevocationRead {
  jti: string;
  /** The token's refresh session (family), when it has one. */
  sid?: string;
  /**
   * When the token's user authenticated (epoch ms): a token revoked by the user epoch is then refused inside the call,
   * and counts nothing (no rate hit, no anomaly count, no proof recorded).
   */
  authenticatedAtMs?: number;
}

export interface RevocationFacts {
  /** The jti is on the denylist. */
  jtiRevoked: boolean;
  /** The token's refresh session has been revoked (logout, reuse detection, incident). */
  sessionRevoked: boolean;
  /** Tokens of this user authenticated at or before this instant (epoch ms) are revoked; 0 when never set. */
  userNotBeforeMs: number;
}

/**
 * Layer 5's part of the one call: the user epoch, the jti's denylist entry, the session's `revoked` field. A token
 * revoked by any of them is refused here, in the `check` phase, so that nothing later counts it.
 */
export const REVOCATION_PART: CheckPart<RevocationRead, RevocationFacts> = {
  name: 'revocation',
  keyCount: 3,
  keys: (input, { sub }, key) => [key('n', sub), key('j', input?.jti ?? ''), key('s', input?.sid ?? '')],
  args: (input) => [input.authenticatedAtMs === undefined ? '' : Math.floor(input.authenticatedAtMs)],
  // The Lua is `storeVerdict` (revocation.policy.ts) over the same three facts.
  lua: {
    check: `
S.nb = redis.call('GET', K[1]) or '0'
S.jti = redis.call('EXISTS', K[2])
S.session = redis.call('HEXISTS', K[3], 'revoked')
if S.jti == 1 or S.session == 1 or (A[1] ~= '' and tonumber(S.nb) >= tonumber(A[1])) then F.refused = true end`,
    reply: '{S.nb, S.jti, S.session}',
  },
  parse: (reply) => {
    const [nb, jti, session] = replyOf(reply, 3, 'check: revocation');
    return { userNotBeforeMs: integer(nb, 'check: revocation'), jtiRevoked: integer(jti, 'check: revocation') === 1, sessionRevoked: integer(session, 'check: revocation') === 1 };
  },
  memory: {
    check({ input, scope, flow, spaces, state }) {
      const facts: RevocationFacts = {
        jtiRevoked: spaces.expiring('revocations').get(`${scope.tag}:${input.jti}`) !== undefined,
        sessionRevoked: input.sid !== undefined && spaces.expiring<RefreshSessionRecord>('sessions').get(`${scope.tag}:${input.sid}`)?.revokedReason !== undefined,
        userNotBeforeMs: spaces.expiring<number>('userEpochs').get(scope.user) ?? 0,
      };
      state.facts = facts;
      if (storeVerdict(facts, input.authenticatedAtMs)) flow.refused = true;
    },
    result: ({ state }) => state.facts as RevocationFacts,
  },
};

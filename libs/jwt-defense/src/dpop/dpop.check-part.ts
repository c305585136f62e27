import type { CheckPart } from '../store/check-part.js';
import { integer, replyOf } from '../store/reply.js';

/** A verified DPoP proof's replay key, and how long to keep it, ms. */
export interface ProofRecord {
  key: string;
  ttlMs: number;
}

/**
 * DPoP's part of the one call: the proof's replay check (`check`: a proof seen before refuses the request, which then
 * counts nothing), and its record (`commit`: only for a request nothing refused or blocked, so a flood the limits
 * refuse cannot fill the replay space).
 */
export const DPOP_PART: CheckPart<ProofRecord, { replayed: boolean }> = {
  name: 'dpop',
  keyCount: 1,
  keys: (input, _scope, key) => [key('dp', input?.key ?? '')],
  args: (input) => [Math.max(1, Math.ceil(input.ttlMs))],
  lua: {
    check: `
S.replayed = 0
if not F.refused and redis.call('EXISTS', K[1]) == 1 then
  S.replayed = 1
  F.refused = true
end`,
    commit: `redis.call('SET', K[1], '1', 'PX', A[1])`,
    reply: '{S.replayed}',
  },
  parse: (reply) => ({ replayed: integer(replyOf(reply, 1, 'check: dpop')[0], 'check: dpop') === 1 }),
  memory: {
    check({ input, scope, flow, spaces, state }) {
      state.replayed = !flow.refused && spaces.expiring('dpopProofs').get(`${scope.tag}:${input.key}`) !== undefined;
      if (state.replayed) flow.refused = true;
    },
    commit({ input, scope, spaces }) {
      spaces.expiring<true>('dpopProofs').set(`${scope.tag}:${input.key}`, true, scope.nowMs + Math.max(1, input.ttlMs), scope.tag);
    },
    result: ({ state }) => ({ replayed: state.replayed === true }),
  },
};

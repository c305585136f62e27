import type { CheckPart } from '../store/check-part.js';
import type { RiskProfile, RiskRead } from '../store/defense-store.ports.js';
import { decimal, integer, replyOf } from '../store/reply.js';
import { readRiskProfile, type RiskProfileState } from './risk-profile.js';

/**
 * Layer 3's part of the one call: what the user's context profile knows about this request's country, device and
 * hour of the week (a read: the learning write comes after an allowed request, in the background).
 */
export const RISK_PART: CheckPart<RiskRead, RiskProfile> = {
  name: 'risk',
  keyCount: 1,
  keys: (_input, { sub }, key) => [key('c', sub)],
  args: (input) => [input.country ?? '', input.device, input.hourOfWeek],
  lua: {
    check: `
local w = tonumber(A[3])
local country = A[1]
local f = redis.call('HMGET', K[1], 'l', country == '' and 'co:' or 'co:' .. country, 'dv:' .. A[2],
  'h:' .. ((w + 167) % 168), 'h:' .. w, 'h:' .. ((w + 1) % 168), 'ht', 'lc', 'lt', 'ch', 'lh', 'cc')
local weight = (tonumber(f[4] or '0') or 0) + (tonumber(f[5] or '0') or 0) + (tonumber(f[6] or '0') or 0)
local countrySeen = f[2] or '0'
if country == '' then countrySeen = '0' end
S.profile = {f[1] or '0', countrySeen, f[3] or '0', string.format('%.6f', weight), f[7] or '0', f[8] or '', f[9] or '0', f[10] or '0', f[11] or '-1', f[12] or ''}`,
    reply: 'S.profile',
  },
  parse: (reply) => {
    const what = 'check: risk';
    const f = replyOf(reply, 10, what);
    const profile: RiskProfile = {
      learned: integer(f[0], what),
      countrySeenAtMs: integer(f[1], what),
      deviceSeenAtMs: integer(f[2], what),
      hourWeight: decimal(f[3], what),
      hourTotal: decimal(f[4], what),
      lastCountry: typeof f[5] === 'string' && f[5] !== '' ? f[5] : undefined,
      lastCountryAtMs: integer(f[6], what),
      challengedAtMs: integer(f[7], what),
      learnedHour: integer(f[8], what),
    };
    if (typeof f[9] === 'string' && f[9] !== '') profile.challengedContext = f[9];
    return profile;
  },
  memory: {
    result: ({ input, scope, spaces }) => readRiskProfile(spaces.lru<RiskProfileState>('profiles').get(scope.user, scope.nowMs), input),
  },
};

import type { RiskLearning, RiskProfile, RiskRead } from '../store/defense-store.ports.js';

/**
 * The per-user state of layer 3 in memory, and the algorithms the Redis store runs as Lua twins (risk.check-part.ts,
 * redis-scripts.ts); the contract suite runs both against the same cases.
 */

/** Hours in a week: the hour-of-week histogram has one bucket per hour. */
export const HOURS_PER_WEEK = 168;
/** Above this growth the histogram's weights are brought back to 1 (they grow instead of decaying the past). */
const RENORMALIZE_ABOVE = 2 ** 30;

/** What one user's context profile holds: O(maxDevices + maxCountries + 168) whatever the traffic. */
export interface RiskProfileState {
  learned: number;
  countries: Map<string, number>;
  devices: Map<string, number>;
  hours: Float64Array;
  hourTotal: number;
  /** Epoch ms from which hour weights grow (2^((t - base)/halfLife)): newer requests weigh more, no decay pass. */
  hourBaseMs: number;
  lastCountry?: string;
  lastCountryAtMs: number;
  challengedAtMs: number;
  /** The context key of the last challenge, while it may be passed there (see `RiskProfile.challengedContext`). */
  challengedContext?: string;
  learnedHour: number;
}

export function emptyRiskProfile(): RiskProfileState {
  return { learned: 0, countries: new Map(), devices: new Map(), hours: new Float64Array(HOURS_PER_WEEK), hourTotal: 0, hourBaseMs: 0, lastCountryAtMs: 0, challengedAtMs: 0, learnedHour: -1 };
}

/** The hour of the week (0 = Monday 00:00 UTC) of an instant. */
export function hourOfWeek(nowMs: number): number {
  const hoursSinceEpoch = Math.floor(nowMs / 3_600_000);
  // 1970-01-01 was a Thursday: shift so that Monday 00:00 is 0.
  return (hoursSinceEpoch + 72) % HOURS_PER_WEEK;
}

export function readRiskProfile(state: RiskProfileState | undefined, read: RiskRead): RiskProfile {
  if (!state) return { learned: 0, countrySeenAtMs: 0, deviceSeenAtMs: 0, hourWeight: 0, hourTotal: 0, lastCountryAtMs: 0, challengedAtMs: 0, learnedHour: -1 };
  const w = read.hourOfWeek;
  const at = (hour: number) => state.hours[(hour + HOURS_PER_WEEK) % HOURS_PER_WEEK];
  return {
    learned: state.learned,
    countrySeenAtMs: read.country === undefined ? 0 : (state.countries.get(read.country) ?? 0),
    deviceSeenAtMs: state.devices.get(read.device) ?? 0,
    hourWeight: at(w - 1) + at(w) + at(w + 1),
    hourTotal: state.hourTotal,
    lastCountry: state.lastCountry,
    lastCountryAtMs: state.lastCountryAtMs,
    challengedAtMs: state.challengedAtMs,
    ...(state.challengedContext !== undefined ? { challengedContext: state.challengedContext } : {}),
    learnedHour: state.learnedHour,
  };
}

/** Remembers `key` as seen now; beyond `max` entries the least recently seen goes (O(max), only when adding). */
function remember(map: Map<string, number>, key: string, nowMs: number, max: number): void {
  map.delete(key);
  map.set(key, nowMs);
  if (map.size <= max) return;
  let oldest: string | undefined;
  let oldestMs = Infinity;
  for (const [candidate, seenMs] of map) {
    if (seenMs < oldestMs) [oldest, oldestMs] = [candidate, seenMs];
  }
  map.delete(oldest!);
}

export function learnRiskProfile(state: RiskProfileState | undefined, learning: RiskLearning): RiskProfileState {
  const s = state ?? emptyRiskProfile();
  s.learned += 1;
  // A login elsewhere withdraws the pass of a challenge raised for another context (the twin is in LEARN_CONTEXT).
  if (learning.login && s.challengedContext !== learning.login.contextKey) s.challengedContext = undefined;
  if (learning.country !== undefined) {
    remember(s.countries, learning.country, learning.nowMs, learning.maxCountries);
    s.lastCountry = learning.country;
    s.lastCountryAtMs = learning.nowMs;
  }
  remember(s.devices, learning.device, learning.nowMs, learning.maxDevices);
  if (learning.countHour) {
    if (s.hourTotal === 0) s.hourBaseMs = learning.nowMs;
    let weight = 2 ** ((learning.nowMs - s.hourBaseMs) / learning.halfLifeMs);
    if (weight > RENORMALIZE_ABOVE) {
      for (let hour = 0; hour < HOURS_PER_WEEK; hour++) s.hours[hour] /= weight;
      s.hourTotal /= weight;
      s.hourBaseMs = learning.nowMs;
      weight = 1;
    }
    s.hours[learning.hourOfWeek] += weight;
    s.hourTotal += weight;
    s.learnedHour = Math.floor(learning.nowMs / 3_600_000);
  }
  return s;
}

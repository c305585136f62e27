import type { RiskProfile } from '../store/defense-store.ports.js';
import type { RiskOptions } from './risk.options.js';

/** The context of one request, as the risk layer sees it. */
export interface RequestRiskContext {
  /** The client address (trusted-proxy resolution). */
  readonly ip: string;
  /** ISO 3166 alpha-2 country, when known. */
  readonly country?: string;
  /** Device fingerprint (`id:` from the app's device id, `ua:` from the user agent). */
  readonly device: string;
  /** Hour of the week, 0-167 (UTC, Monday 00:00 = 0). */
  readonly hourOfWeek: number;
  /** The route template (`/orders/:id`). */
  readonly route: string;
  readonly nowMs: number;
}

/** What a signal sees: the request's context and what the user's history says about it. */
export interface RiskInput {
  readonly context: RequestRiskContext;
  readonly profile: RiskProfile;
}

/**
 * One risk signal: a name, a weight (added to the score when it fires) and an evaluation that returns an
 * explanation when it fires, `undefined` otherwise. Built-ins below; add yours with `risk.signals`.
 */
export interface RiskSignal {
  readonly name: string;
  readonly weight: number;
  evaluate(input: RiskInput): string | undefined;
}

const DAY_MS = 86_400_000;

/** A country not seen for this user within `knownForDays`. */
export class NewCountrySignal implements RiskSignal {
  readonly name = 'new_country';
  constructor(readonly weight: number, private readonly knownForMs: number) {}
  evaluate({ context, profile }: RiskInput): string | undefined {
    if (context.country === undefined) return undefined;
    const seen = profile.countrySeenAtMs;
    return seen === 0 || context.nowMs - seen > this.knownForMs ? `country ${context.country} not seen for this user` : undefined;
  }
}

/** A device not seen for this user within `knownForDays`. */
export class UnknownDeviceSignal implements RiskSignal {
  readonly name = 'unknown_device';
  constructor(readonly weight: number, private readonly knownForMs: number) {}
  evaluate({ context, profile }: RiskInput): string | undefined {
    const seen = profile.deviceSeenAtMs;
    return seen === 0 || context.nowMs - seen > this.knownForMs ? 'device not seen for this user' : undefined;
  }
}

/** An hour of the week with little of this user's learned activity (± 1 h); silent until enough history. */
export class UnusualHourSignal implements RiskSignal {
  readonly name = 'unusual_hour';
  constructor(readonly weight: number, private readonly share: number, private readonly minHistory: number) {}
  evaluate({ context, profile }: RiskInput): string | undefined {
    if (profile.learned < this.minHistory || profile.hourTotal <= 0) return undefined;
    const share = profile.hourWeight / profile.hourTotal;
    return share < this.share ? `hour ${context.hourOfWeek % 24}:00 UTC on weekday ${Math.floor(context.hourOfWeek / 24)} is unusual (${(share * 100).toFixed(1)}% of activity)` : undefined;
  }
}

/** A country different from the last one seen, sooner than travel allows. */
export class ImpossibleTravelSignal implements RiskSignal {
  readonly name = 'impossible_travel';
  constructor(readonly weight: number, private readonly withinMs: number) {}
  evaluate({ context, profile }: RiskInput): string | undefined {
    if (context.country === undefined || profile.lastCountry === undefined || profile.lastCountry === context.country) return undefined;
    const elapsedMs = context.nowMs - profile.lastCountryAtMs;
    return elapsedMs < this.withinMs ? `${profile.lastCountry} → ${context.country} in ${Math.round(elapsedMs / 60_000)} min` : undefined;
  }
}

/** The built-in signals with their configured weights, then the app's own. */
export function riskSignals(options: RiskOptions): RiskSignal[] {
  const knownForMs = options.knownForDays * DAY_MS;
  return [
    new NewCountrySignal(options.weights.newCountry, knownForMs),
    new UnknownDeviceSignal(options.weights.unknownDevice, knownForMs),
    new UnusualHourSignal(options.weights.unusualHour, options.unusualHourShare, options.minHistory),
    new ImpossibleTravelSignal(options.weights.impossibleTravel, options.impossibleTravelWithinMin * 60_000),
    ...(options.signals ?? []),
  ];
}

/** One fired signal, as recorded in events. */
export interface RiskFactor {
  signal: string;
  weight: number;
  explanation: string;
}

/** The score (sum of fired weights, capped at 1) and its factors. Monotone in every weight. */
export function scoreRisk(signals: readonly RiskSignal[], input: RiskInput): { score: number; factors: RiskFactor[] } {
  const factors: RiskFactor[] = [];
  let sum = 0;
  for (const signal of signals) {
    const explanation = signal.evaluate(input);
    if (explanation === undefined) continue;
    const weight = Math.min(1, Math.max(0, signal.weight));
    factors.push({ signal: signal.name, weight, explanation });
    sum += weight;
  }
  return { score: Math.min(1, sum), factors };
}

import fc from 'fast-check';
import { resolveOptions } from '../common/options.js';
import type { RiskProfile } from '../store/defense-store.ports.js';
import { hourOfWeek } from './risk-profile.js';
import { ImpossibleTravelSignal, NewCountrySignal, riskSignals, scoreRisk, UnknownDeviceSignal, UnusualHourSignal, type RequestRiskContext } from './risk-signals.js';
import { RiskOptions } from './risk.options.js';

const NOW = Date.UTC(2026, 10, 24, 3, 0, 0); // a Tuesday, 03:00 UTC
const DAY = 86_400_000;
const context = (overrides: Partial<RequestRiskContext> = {}): RequestRiskContext => ({
  ip: '198.51.100.1', country: 'FR', device: 'ua:abc', hourOfWeek: hourOfWeek(NOW), route: '/me', nowMs: NOW, ...overrides,
});
const profile = (overrides: Partial<RiskProfile> = {}): RiskProfile => ({
  learned: 100, countrySeenAtMs: NOW - DAY, deviceSeenAtMs: NOW - DAY, hourWeight: 10, hourTotal: 100, lastCountry: 'FR', lastCountryAtMs: NOW - DAY, challengedAtMs: 0, learnedHour: 0, ...overrides,
});

describe('risk signals (frozen clock)', () => {
  it('hourOfWeek counts from Monday 00:00 UTC', () => {
    expect(hourOfWeek(Date.UTC(2026, 10, 23, 0, 0, 0))).toBe(0); // Monday
    expect(hourOfWeek(NOW)).toBe(27); // Tuesday 03:00
    expect(hourOfWeek(Date.UTC(2026, 10, 29, 23, 59, 0))).toBe(167); // Sunday 23:59
  });

  it('new country: never seen, or not within the known window; silent without a country', () => {
    const signal = new NewCountrySignal(0.4, 90 * DAY);
    expect(signal.evaluate({ context: context(), profile: profile() })).toBeUndefined();
    expect(signal.evaluate({ context: context({ country: 'BR' }), profile: profile({ countrySeenAtMs: 0 }) })).toMatch(/country BR not seen/);
    expect(signal.evaluate({ context: context(), profile: profile({ countrySeenAtMs: NOW - 91 * DAY }) })).toMatch(/country \w+ not seen/);
    expect(signal.evaluate({ context: context({ country: undefined }), profile: profile({ countrySeenAtMs: 0 }) })).toBeUndefined();
  });

  it('unknown device: never seen, or not within the known window', () => {
    const signal = new UnknownDeviceSignal(0.3, 90 * DAY);
    expect(signal.evaluate({ context: context(), profile: profile() })).toBeUndefined();
    expect(signal.evaluate({ context: context(), profile: profile({ deviceSeenAtMs: 0 }) })).toBe('device not seen for this user');
    expect(signal.evaluate({ context: context(), profile: profile({ deviceSeenAtMs: NOW - 91 * DAY }) })).toBe('device not seen for this user');
  });

  it('unusual hour: learned per user, silent until enough history', () => {
    const signal = new UnusualHourSignal(0.2, 0.02, 50);
    expect(signal.evaluate({ context: context(), profile: profile({ hourWeight: 1, hourTotal: 100 }) })).toMatch(/is unusual \(1\.0% of activity\)/);
    expect(signal.evaluate({ context: context(), profile: profile({ hourWeight: 2, hourTotal: 100 }) })).toBeUndefined();
    expect(signal.evaluate({ context: context(), profile: profile({ learned: 49, hourWeight: 0 }) })).toBeUndefined();
  });

  it('impossible travel: a country change sooner than configured', () => {
    const signal = new ImpossibleTravelSignal(0.5, 120 * 60_000);
    expect(signal.evaluate({ context: context({ country: 'BR' }), profile: profile({ lastCountryAtMs: NOW - 30 * 60_000 }) })).toBe('FR → BR in 30 min');
    expect(signal.evaluate({ context: context({ country: 'BR' }), profile: profile({ lastCountryAtMs: NOW - 121 * 60_000 }) })).toBeUndefined();
    expect(signal.evaluate({ context: context(), profile: profile({ lastCountryAtMs: NOW - 60_000 }) })).toBeUndefined();
  });

  it('the scorer sums fired weights with their explanations, capped at 1 (the classic recipe: new country + unknown device + 3 a.m.)', () => {
    const signals = riskSignals(resolveOptions(RiskOptions, { minHistory: 10 }));
    const stolen = scoreRisk(signals, { context: context({ country: 'BR' }), profile: profile({ countrySeenAtMs: 0, deviceSeenAtMs: 0, hourWeight: 0, lastCountryAtMs: NOW - 3 * DAY }) });
    expect(stolen.factors.map((factor) => factor.signal)).toEqual(['new_country', 'unknown_device', 'unusual_hour']);
    expect(stolen.score).toBeCloseTo(0.9, 10);
    const travel = scoreRisk(signals, { context: context({ country: 'BR' }), profile: profile({ countrySeenAtMs: 0, deviceSeenAtMs: 0, hourWeight: 0, lastCountryAtMs: NOW - 60_000 }) });
    expect(travel.score).toBe(1);
    expect(scoreRisk(signals, { context: context(), profile: profile() })).toEqual({ score: 0, factors: [] });
  });

  it('the score stays in [0, 1] and is monotone in every weight (property)', () => {
    const weights = fc.record({ newCountry: fc.double({ min: 0, max: 1, noNaN: true }), unknownDevice: fc.double({ min: 0, max: 1, noNaN: true }), unusualHour: fc.double({ min: 0, max: 1, noNaN: true }), impossibleTravel: fc.double({ min: 0, max: 1, noNaN: true }) });
    const input = fc.record({
      country: fc.option(fc.constantFrom('FR', 'BR', 'DE'), { nil: undefined }),
      countrySeenAtMs: fc.constantFrom(0, NOW - DAY, NOW - 100 * DAY),
      deviceSeenAtMs: fc.constantFrom(0, NOW - DAY, NOW - 100 * DAY),
      hourWeight: fc.double({ min: 0, max: 100, noNaN: true }),
      learned: fc.integer({ min: 0, max: 200 }),
      lastCountryAtMs: fc.constantFrom(0, NOW - 60_000, NOW - DAY),
    });
    fc.assert(
      fc.property(weights, fc.constantFrom('newCountry', 'unknownDevice', 'unusualHour', 'impossibleTravel'), fc.double({ min: 0, max: 1, noNaN: true }), input, (base, which, extra, i) => {
        const score = (w: typeof base) => scoreRisk(riskSignals(resolveOptions(RiskOptions, { weights: w })), { context: context({ country: i.country }), profile: profile(i) }).score;
        const before = score(base);
        const after = score({ ...base, [which]: Math.min(1, base[which as keyof typeof base] + extra) });
        expect(before).toBeGreaterThanOrEqual(0);
        expect(before).toBeLessThanOrEqual(1);
        expect(after).toBeGreaterThanOrEqual(before);
      }),
      { numRuns: 1000 },
    );
  });
});

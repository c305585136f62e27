import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { BackgroundWrites } from '../common/background-writes.js';
import { DefenseClock } from '../common/defense-clock.js';
import { EpochClock } from '../common/epoch-clock.js';
import { rawRequest } from '../common/http.js';
import { ClientIpResolver } from '../edge/client-ip.js';
import { pipelineContextOf } from '../pipeline/pipeline-context.js';
import { ContextStore, type RiskProfile } from '../store/defense-store.ports.js';
import { userIdentity } from '../token/token-ids.js';
import { HeaderCountryResolver, MaxMindCountryResolver, type CountryResolver } from './country-resolver.js';
import { deviceFingerprint } from './device-fingerprint.js';
import { hourOfWeek } from './risk-profile.js';
import { riskSignals, scoreRisk, type RequestRiskContext, type RiskFactor, type RiskSignal } from './risk-signals.js';
import { RiskOptions } from './risk.options.js';

/** What the risk layer decides for a score: allow, ask for a step-up, or deny. */
export type RiskDecision = 'allow' | 'step-up' | 'deny';

/**
 * The key of a context as a challenge records it: its country and device (not its hour), hashed to a short fixed
 * size. A token authenticated after a challenge passes it only from this context.
 */
export function riskContextKey(context: Pick<RequestRiskContext, 'country' | 'device'>): string {
  return createHash('sha256').update(`${context.country ?? ''}\n${context.device}`).digest('base64url').slice(0, 16);
}

/** A new country or device is learned again once this old (keeps one learning write per user per hour or less). */
const RELEARN_AFTER_MS = 86_400_000;
const DAY_MS = 86_400_000;

/**
 * Layer 3: context risk. Reads a request's context (client address, country, device, hour of the week), scores it
 * against what the user's logins and allowed requests taught (pluggable signals, each with a weight and an
 * explanation), and decides allow / step-up / deny by thresholds. Contexts are learned only from logins and allowed
 * requests, never from refused ones, so an attacker cannot teach the system; the writes are not waited for.
 * @hideconstructor
 */
@Injectable()
export class ContextRiskService implements OnModuleInit {
  private countries: CountryResolver;
  readonly signals: readonly RiskSignal[];
  /** Fingerprints of recent clients (user agent, language), bounded: most requests come from a few. */
  private readonly fingerprints = new Map<string, string>();

  constructor(
    readonly options: RiskOptions,
    @Inject(ContextStore) private readonly store: ContextStore,
    private readonly clientIp: ClientIpResolver,
    private readonly clock: DefenseClock,
    private readonly writes: BackgroundWrites,
    private readonly epochs: EpochClock,
  ) {
    this.countries = options.countryResolver ?? new HeaderCountryResolver(options.countryHeader);
    this.signals = riskSignals(options);
  }

  async onModuleInit(): Promise<void> {
    if (this.options.maxmindDatabase !== undefined && this.options.countryResolver === undefined) {
      this.countries = await MaxMindCountryResolver.open(this.options.maxmindDatabase);
    }
  }

  /** The context of a request (the framework's or the raw Node request). */
  riskContextOf(httpRequest: unknown, route = ''): RequestRiskContext {
    const request = rawRequest(httpRequest);
    const ip = pipelineContextOf(request)?.clientIp ?? this.clientIp.resolve(request);
    return this.contextFor(request, ip, route);
  }

  contextFor(request: IncomingMessage, ip: string, route: string): RequestRiskContext {
    const nowMs = this.clock.nowMs();
    return {
      ip,
      country: this.countries.resolve(request, ip, this.clientIp.peerIsTrusted(request)),
      device: deviceFingerprint(request, this.options.deviceIdHeader, this.fingerprints),
      hourOfWeek: hourOfWeek(nowMs),
      route,
      nowMs,
    };
  }

  /** The score of a context against a user's profile: the sum of the fired signals' weights, capped at 1. */
  assess(profile: RiskProfile, context: RequestRiskContext): { score: number; factors: RiskFactor[] } {
    return scoreRisk(this.signals, { context, profile });
  }

  decide(score: number, thresholds: { stepUpAt: number; denyAt: number }): RiskDecision {
    if (score >= thresholds.denyAt) return 'deny';
    if (score >= thresholds.stepUpAt) return 'step-up';
    return 'allow';
  }

  /**
   * Records the context of a successful login as known for `sub` (call it from your login route, and await it before
   * answering: the client's next request is then scored against it). A pending challenge raised for another context
   * can no longer be passed by this login's tokens. Resolves once written (a failed write is counted, never thrown).
   */
  learnLogin(httpRequest: unknown, sub: string): Promise<void> {
    const context = this.riskContextOf(httpRequest);
    return this.learn(sub, context, undefined, userIdentity(sub).tag, { contextKey: riskContextKey(context) });
  }

  /**
   * Learns `context` for `sub` in the background, when it tells something new: a country or device not seen for a
   * day, or the first request of this hour (the hour-of-week histogram counts once per user per hour). The request
   * does not wait; the promise is for the callers that do (a login).
   */
  learn(sub: string, context: RequestRiskContext, profile: RiskProfile | undefined, tag = userIdentity(sub).tag, login?: { contextKey: string }): Promise<void> {
    const hour = Math.floor(context.nowMs / 3_600_000);
    const countHour = profile === undefined || profile.learnedHour !== hour;
    const stale = (seenMs: number) => seenMs === 0 || context.nowMs - seenMs > RELEARN_AFTER_MS;
    const news = countHour || stale(profile.deviceSeenAtMs) || (context.country !== undefined && stale(profile.countrySeenAtMs));
    if (!news) return Promise.resolve();
    const learning = {
      country: context.country,
      device: context.device,
      hourOfWeek: context.hourOfWeek,
      nowMs: context.nowMs,
      countHour,
      maxDevices: this.options.maxDevices,
      maxCountries: this.options.maxCountries,
      halfLifeMs: this.options.hourHalfLifeDays * DAY_MS,
      ttlMs: this.options.profileTtlDays * DAY_MS,
      ...(login ? { login } : {}),
    };
    return this.writes.run('learn_context', () => this.store.learnContext(tag, sub, learning));
  }

  /**
   * Records a challenge (step-up or deny) for `sub`, raised for `context`: a token authenticated after it passes it
   * from that context only. Not waited for. `atMs`: when it happened, in ms since the epoch; default now on the
   * store's clock (Redis `TIME`), the clock `auth_time` of the library's own logins is read from, so instances whose
   * clocks disagree agree on which login came after it.
   */
  recordChallenge(sub: string, context: Pick<RequestRiskContext, 'country' | 'device'>, atMs?: number, tag = userIdentity(sub).tag): void {
    void this.writes.run('record_challenge', async () =>
      this.store.recordChallenge(tag, sub, atMs ?? (await this.epochs.nowMs()), this.options.profileTtlDays * DAY_MS, riskContextKey(context)),
    );
  }
}

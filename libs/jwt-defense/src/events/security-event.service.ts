import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { Subject, type Observable } from 'rxjs';
import { DefenseClock } from '../common/defense-clock.js';
import { DEFENSE_METRICS } from '../jwt-defense.tokens.js';
import type { DefenseMetricsSink } from '../pipeline/metrics-sink.js';
import { EventStore } from '../store/defense-store.ports.js';
import { STORE_ALERTS, type StoreAlerts } from '../store/defense-store.provider.js';
import { EventSampler } from './event-sampler.js';
import { createSecurityEvent, type SecurityEvent, type SecurityEventQuery, type SecurityEventType } from './security-event.js';

/** Fields of an event the caller provides; `id` and `at` are set by the service. */
export type SecurityEventInput = Omit<SecurityEvent, 'id' | 'at' | 'type'>;

export const DEFAULT_EVENT_LIMIT = 100;
export const MAX_EVENT_LIMIT = 1000;
const MAX_PENDING = 1000;

/**
 * The security event log: bounded (memory ring buffer or a capped Redis Stream), queryable newest first,
 * and observable (`events$`) so an app can forward events to its SIEM. Recording never throws and never
 * delays the request that caused it.
 * @hideconstructor
 */
@Injectable()
export class SecurityEventService {
  private readonly logger = new Logger('JwtDefense');
  private readonly subject = new Subject<SecurityEvent>();
  private sequence = 0;
  /** Events the store could not take (it was down), re-sent by `flushPending()`; bounded. */
  private pending: SecurityEvent[] = [];
  private readonly samplers = new Map<number, EventSampler>();

  /** Every recorded event, as it happens (on this instance). */
  readonly events$: Observable<SecurityEvent> = this.subject.asObservable();

  constructor(
    @Inject(EventStore) private readonly store: EventStore,
    private readonly clock: DefenseClock,
    @Optional() @Inject(STORE_ALERTS) alerts?: StoreAlerts,
    @Optional() @Inject(DEFENSE_METRICS) private readonly metrics?: DefenseMetricsSink,
  ) {
    alerts?.subscribe((space) => this.recordSampled('store_full', space, { reason: `the ${space} space is full`, details: { space } }, 60_000));
  }

  /** Records an event (fire and forget: a store failure is logged, not thrown). */
  record(type: SecurityEventType, fields: SecurityEventInput = {}): SecurityEvent {
    const nowMs = this.clock.nowMs();
    const event = createSecurityEvent(type, fields, nowMs, this.sequence++);
    this.metrics?.securityEvent?.(type);
    this.subject.next(event);
    this.store.appendEvent(event).catch(() => this.keepPending(event));
    return event;
  }

  /**
   * Records at most one event per `sampleKey` per `periodMs` (default 10 s); the ones dropped in between are
   * counted in the next one's `details.suppressed`. For floods: 429s, store outages.
   */
  recordSampled(type: SecurityEventType, sampleKey: string, fields: SecurityEventInput = {}, periodMs = 10_000): SecurityEvent | undefined {
    let sampler = this.samplers.get(periodMs);
    if (!sampler) {
      sampler = new EventSampler(periodMs);
      this.samplers.set(periodMs, sampler);
    }
    const sampled = sampler.sample(`${type}\u0000${sampleKey}`, this.clock.nowMs());
    if (!sampled) return undefined;
    return this.record(type, { ...fields, details: { ...fields.details, suppressed: sampled.suppressed } });
  }

  /** Re-sends events recorded while the store was down (called by the background refresh). */
  async flushPending(): Promise<void> {
    const events = this.pending;
    this.pending = [];
    for (const [index, event] of events.entries()) {
      try {
        await this.store.appendEvent(event);
      } catch {
        this.pending = [...events.slice(index), ...this.pending].slice(-MAX_PENDING);
        return;
      }
    }
  }

  private keepPending(event: SecurityEvent): void {
    if (this.pending.length === 0) this.logger.warn('security events are kept in memory until the store answers again');
    this.pending.push(event);
    if (this.pending.length > MAX_PENDING) this.pending.shift();
  }

  /** Newest first; `limit` defaults to 100 and is capped at 1000; `sinceMs` keeps events at or after it. */
  async list(query: Partial<SecurityEventQuery> = {}): Promise<SecurityEvent[]> {
    const limit = Math.min(Math.max(1, Math.floor(query.limit ?? DEFAULT_EVENT_LIMIT)), MAX_EVENT_LIMIT);
    return this.store.listEvents({ type: query.type, sub: query.sub, limit, ...(query.sinceMs === undefined ? {} : { sinceMs: query.sinceMs }) });
  }
}

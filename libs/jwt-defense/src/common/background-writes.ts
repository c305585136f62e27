import { Injectable, Logger } from '@nestjs/common';
import { SecurityEventService } from '../events/security-event.service.js';

/** Writes in flight at most; beyond, new ones are dropped (and counted, and reported). */
const MAX_IN_FLIGHT = 256;

/**
 * Store writes a request does not wait for (learning a context after an allowed request, recording a challenge).
 * Bounded: at most 256 in flight; a write beyond that, or one that fails, is dropped, never silently: it is
 * counted, logged and recorded as a sampled `background_write_dropped` event.
 */
@Injectable()
export class BackgroundWrites {
  private readonly logger = new Logger('JwtDefense');
  private inFlight = 0;
  /** Writes dropped since boot (too many in flight, or failed). */
  dropped = 0;

  constructor(private readonly events: SecurityEventService) {}

  /**
   * Starts `write` unless too many are in flight. Never throws, never rejects: the promise resolves once the write is
   * done or dropped (for the rare caller that waits, e.g. a login's learning).
   */
  run(kind: string, write: () => Promise<unknown>): Promise<void> {
    if (this.inFlight >= MAX_IN_FLIGHT) {
      this.drop(kind, 'too many writes in flight');
      return Promise.resolve();
    }
    this.inFlight++;
    // A write that throws before returning its promise is a failed write too (and must free its slot).
    let pending: Promise<unknown>;
    try {
      pending = write();
    } catch (error) {
      pending = Promise.reject(error);
    }
    return pending
      .then(
        () => undefined,
        (error: unknown) => this.drop(kind, (error as Error)?.name ?? 'error'),
      )
      .finally(() => this.inFlight--);
  }

  /** Resolves when nothing is in flight (for tests and shutdown). */
  async settle(): Promise<void> {
    while (this.inFlight > 0) await new Promise((resolve) => setImmediate(resolve));
  }

  private drop(kind: string, reason: string): void {
    this.dropped++;
    const event = this.events.recordSampled('background_write_dropped', kind, { reason, details: { kind, dropped: this.dropped } }, 60_000);
    if (event) this.logger.warn(`${kind} write dropped (${reason}); ${this.dropped} since boot`);
  }
}

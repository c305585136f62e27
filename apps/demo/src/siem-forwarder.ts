import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import type { Subscription } from 'rxjs';
import { SecurityEventService, toNdjsonLine, type SecurityEvent } from '@jwt-defense/core';

/** Where the demo forwards its security events: SIEM_URL (absent: not forwarded) with SIEM_TOKEN as bearer. */
export const SIEM_OPTIONS = Symbol('SIEM_OPTIONS');
export interface SiemOptions {
  url?: string;
  token?: string;
}

const BATCH = 100;
const MAX_BUFFERED = 10_000;
const FLUSH_EVERY_MS = 1000;

/**
 * Forwards every security event of this instance to a SIEM as NDJSON (one JSON object per line), the example of
 * docs/OPERATIONS.md: `SecurityEventService.events$` → a bounded buffer → `POST SIEM_URL` in batches (at most 100
 * events or 1 s apart), `Content-Type: application/x-ndjson`, `Authorization: Bearer SIEM_TOKEN` when set. Splunk
 * HEC, Elastic's `_bulk`-less ingest, Vector, Fluent Bit and Loki's promtail all take NDJSON over HTTP. A SIEM that
 * is down never slows a request: events wait in the buffer (the oldest dropped beyond 10000, counted and logged).
 */
@Injectable()
export class SiemForwarder implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('SiemForwarder');
  private subscription?: Subscription;
  private timer?: NodeJS.Timeout;
  private buffer: string[] = [];
  private sending = false;
  /** Events dropped because the buffer was full (the SIEM was down too long). */
  dropped = 0;

  constructor(
    private readonly events: SecurityEventService,
    @Inject(SIEM_OPTIONS) private readonly siem: SiemOptions,
  ) {}

  onModuleInit(): void {
    if (!this.siem.url) return;
    this.subscription = this.events.events$.subscribe((event) => this.enqueue(event));
    this.timer = setInterval(() => void this.flush(), FLUSH_EVERY_MS);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    this.subscription?.unsubscribe();
    clearInterval(this.timer);
    await this.flush();
  }

  private enqueue(event: SecurityEvent): void {
    this.buffer.push(toNdjsonLine(event));
    if (this.buffer.length > MAX_BUFFERED) {
      this.buffer.shift();
      if (this.dropped++ % 1000 === 0) this.logger.warn(`SIEM buffer full: ${this.dropped} events dropped so far`);
    }
    if (this.buffer.length >= BATCH) void this.flush();
  }

  /** Sends what is buffered, a batch at a time; on failure keeps it for the next tick. */
  async flush(): Promise<void> {
    if (this.sending || this.buffer.length === 0 || !this.siem.url) return;
    this.sending = true;
    try {
      while (this.buffer.length > 0) {
        const batch = this.buffer.slice(0, BATCH);
        const headers: Record<string, string> = { 'content-type': 'application/x-ndjson' };
        if (this.siem.token) headers.authorization = `Bearer ${this.siem.token}`;
        const res = await fetch(this.siem.url, { method: 'POST', headers, body: batch.join(''), signal: AbortSignal.timeout(5000) });
        if (!res.ok) throw new Error(`the SIEM answered ${res.status}`);
        this.buffer = this.buffer.slice(batch.length);
      }
    } catch (error) {
      this.logger.warn(`events not forwarded yet (${this.buffer.length} waiting): ${(error as Error).message}`);
    } finally {
      this.sending = false;
    }
  }
}

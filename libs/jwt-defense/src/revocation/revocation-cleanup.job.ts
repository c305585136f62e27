import { Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { DefenseScheduler } from '../common/defense-scheduler.js';
import { SecurityEventService } from '../events/security-event.service.js';
import type { CleanupReport } from '../store/defense-store.ports.js';
import { RevocationOptions } from './revocation.options.js';
import { RevocationService } from './revocation.service.js';

export const CLEANUP_JOB_NAME = 'jwt-defense:cleanup';

/**
 * Scheduled cleanup (`revocation.cleanupCron`), through the host's `SchedulerRegistry` when it has one (see
 * `DefenseScheduler`). Each tick is wrapped: a failure is logged, counted and recorded as a `cleanup_failed`
 * event, and the app lives on.
 */
@Injectable()
export class RevocationCleanupJob implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('JwtDefense');
  /** Ticks that failed since boot. */
  failures = 0;
  /** What the last successful tick did. */
  lastReport?: CleanupReport;

  constructor(
    private readonly revocation: RevocationService,
    private readonly events: SecurityEventService,
    private readonly scheduler: DefenseScheduler,
    private readonly options: RevocationOptions,
  ) {}

  onModuleInit(): void {
    if (this.options.cleanupCron !== false) this.scheduler.cron(CLEANUP_JOB_NAME, this.options.cleanupCron, () => this.tick());
  }

  onModuleDestroy(): void {
    this.scheduler.remove(CLEANUP_JOB_NAME);
  }

  /** One run; never throws. */
  async tick(): Promise<CleanupReport | undefined> {
    try {
      const report = await this.revocation.cleanupExpired();
      this.lastReport = report;
      if (report.removed > 0 || report.truncated) {
        this.logger.log(`cleanup: scanned ${report.scanned}, removed ${report.removed}${report.truncated ? ' (budget reached)' : ''}`);
      }
      return report;
    } catch (error) {
      this.failures++;
      this.logger.error(`cleanup failed: ${(error as Error).message}`);
      this.events.record('cleanup_failed', { reason: (error as Error).message.slice(0, 200) });
      return undefined;
    }
  }
}

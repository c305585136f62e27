import { Inject, Injectable, Logger, type OnModuleDestroy, type OnModuleInit } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CronJob } from 'cron';
import { SecurityEventService } from '../events/security-event.service.js';
import { JWT_DEFENSE_OPTIONS } from '../jwt-defense.tokens.js';
import type { ResolvedJwtDefenseOptions } from '../jwt-defense.options.js';
import type { CleanupReport } from '../store/defense-store.interface.js';
import { RevocationService } from './revocation.service.js';

export const CLEANUP_JOB_NAME = 'jwt-defense:cleanup';

/**
 * Scheduled cleanup (`revocation.cleanupCron`, registered with `SchedulerRegistry.addCronJob`). Each tick is
 * wrapped: a failure is logged, counted and recorded as a `cleanup_failed` event, and the app lives on.
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
    private readonly scheduler: SchedulerRegistry,
    @Inject(JWT_DEFENSE_OPTIONS) private readonly options: ResolvedJwtDefenseOptions,
  ) {}

  onModuleInit(): void {
    const cron = this.options.revocation.cleanupCron;
    if (cron === false) return;
    const job = CronJob.from({
      cronTime: cron,
      onTick: async () => {
        await this.tick();
      },
      start: false,
    });
    this.scheduler.addCronJob(CLEANUP_JOB_NAME, job as unknown as Parameters<SchedulerRegistry['addCronJob']>[1]);
    job.start();
  }

  onModuleDestroy(): void {
    if (this.scheduler.doesExist('cron', CLEANUP_JOB_NAME)) this.scheduler.deleteCronJob(CLEANUP_JOB_NAME);
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

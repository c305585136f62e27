import { Injectable, Logger, Optional, type OnApplicationShutdown } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { CronJob } from 'cron';

type Timer = { kind: 'interval'; handle: NodeJS.Timeout } | { kind: 'cron'; job: CronJob };

/**
 * Background work of jwt-defense (the global-state refresh, the cleanup job). The library never imports
 * `ScheduleModule.forRoot()` itself (that would register a host's `@Interval`/`@Cron` jobs twice): when the host
 * imports it, jobs are registered in the host's `SchedulerRegistry` (visible, stoppable there); otherwise they
 * run on the library's own unref'd timers. Every tick is wrapped: a failure is logged and counted, and the
 * app lives on; a tick never overlaps the previous one.
 */
@Injectable()
export class DefenseScheduler implements OnApplicationShutdown {
  private readonly logger = new Logger('JwtDefense');
  private readonly timers = new Map<string, Timer>();
  /** Failed ticks per job since boot. */
  readonly failures = new Map<string, number>();

  constructor(@Optional() private readonly registry?: SchedulerRegistry) {}

  /** True when jobs go to the host's `SchedulerRegistry`. */
  get usesHostRegistry(): boolean {
    return this.registry !== undefined;
  }

  interval(name: string, everyMs: number, tick: () => Promise<unknown>): void {
    const handle = setInterval(this.wrap(name, tick), everyMs);
    handle.unref();
    this.remove(name);
    this.timers.set(name, { kind: 'interval', handle });
    this.registry?.addInterval(name, handle);
  }

  cron(name: string, expression: string, tick: () => Promise<unknown>): void {
    // Unref'd like the intervals: a job never keeps a process alive (an app that was not closed, a CLI, a test).
    const job = CronJob.from({ cronTime: expression, onTick: this.wrap(name, tick), start: false, unrefTimeout: true });
    this.remove(name);
    this.timers.set(name, { kind: 'cron', job });
    this.registry?.addCronJob(name, job as unknown as Parameters<SchedulerRegistry['addCronJob']>[1]);
    job.start();
  }

  remove(name: string): void {
    const timer = this.timers.get(name);
    if (!timer) return;
    this.timers.delete(name);
    if (timer.kind === 'interval') {
      clearInterval(timer.handle);
      if (this.registry?.doesExist('interval', name)) this.registry.deleteInterval(name);
    } else {
      void timer.job.stop();
      if (this.registry?.doesExist('cron', name)) this.registry.deleteCronJob(name);
    }
  }

  onApplicationShutdown(): void {
    for (const name of [...this.timers.keys()]) this.remove(name);
  }

  private wrap(name: string, tick: () => Promise<unknown>): () => Promise<void> {
    let running = false;
    return async () => {
      if (running) return;
      running = true;
      try {
        await tick();
      } catch (error) {
        this.failures.set(name, (this.failures.get(name) ?? 0) + 1);
        this.logger.error(`${name} failed: ${(error as Error)?.message ?? String(error)}`);
      } finally {
        running = false;
      }
    };
  }
}

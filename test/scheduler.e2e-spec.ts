import { Injectable, Module } from '@nestjs/common';
import { Interval, ScheduleModule, SchedulerRegistry } from '@nestjs/schedule';
import { Test } from '@nestjs/testing';
import { JwtDefenseModule } from '@jwt-defense/core';
import { CLEANUP_JOB_NAME, RevocationCleanupJob } from '../libs/jwt-defense/src/revocation/revocation-cleanup.job.js';
import { fixtureOptions } from './fixtures/fixture.app.js';

const FAKE_TIMERS = { doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] as Array<'nextTick' | 'setImmediate' | 'queueMicrotask'> };

@Injectable()
class HostJob {
  ticks = 0;
  @Interval(1000)
  tick(): void {
    this.ticks++;
  }
}

async function ticksIn10s(withDefense: boolean): Promise<{ ticks: number; registry: SchedulerRegistry }> {
  @Module({
    imports: [ScheduleModule.forRoot(), ...(withDefense ? [JwtDefenseModule.forRoot(fixtureOptions())] : [])],
    providers: [HostJob],
  })
  class HostModule {}
  const moduleRef = await Test.createTestingModule({ imports: [HostModule] }).compile();
  await moduleRef.init();
  await jest.advanceTimersByTimeAsync(10_000);
  const ticks = moduleRef.get(HostJob).ticks;
  const registry = moduleRef.get(SchedulerRegistry);
  const jobs = { intervals: registry.getIntervals(), crons: [...registry.getCronJobs().keys()] };
  await moduleRef.close();
  return { ticks, registry: Object.assign(registry, { jobs }) };
}

describe('background jobs and the host app scheduler', () => {
  beforeEach(() => jest.useFakeTimers(FAKE_TIMERS));
  afterEach(() => jest.useRealTimers());

  it("a host app's own @Interval ticks as often with the module imported as without", async () => {
    const without = await ticksIn10s(false);
    const withDefense = await ticksIn10s(true);
    expect(without.ticks).toBe(10);
    expect(withDefense.ticks).toBe(10);
  });

  it("registers its jobs in the host's SchedulerRegistry when the host has one", async () => {
    const { registry } = await ticksIn10s(true);
    const jobs = (registry as unknown as { jobs: { intervals: string[]; crons: string[] } }).jobs;
    expect(jobs.intervals).toContain('jwt-defense:global-state');
    expect(jobs.crons).toContain(CLEANUP_JOB_NAME);
  });

  it('runs its jobs on its own timers without ScheduleModule (the cleanup job still ticks)', async () => {
    const moduleRef = await Test.createTestingModule({ imports: [JwtDefenseModule.forRoot(fixtureOptions({ revocation: { cleanupCron: '*/1 * * * * *' } }))] }).compile();
    await moduleRef.init();
    await jest.advanceTimersByTimeAsync(3_000);
    expect(moduleRef.get(RevocationCleanupJob).lastReport).toMatchObject({ truncated: false });
    expect(() => moduleRef.get(SchedulerRegistry)).toThrow();
    await moduleRef.close();
  });
});

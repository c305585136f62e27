import { DefenseScheduler } from './defense-scheduler.js';

const timersKeepingAlive = () => process.getActiveResourcesInfo().filter((type) => type === 'Timeout').length;

describe('DefenseScheduler (on its own timers)', () => {
  it('keeps no process alive: its cron jobs and intervals are unref\'d, like an app that was never closed', () => {
    const scheduler = new DefenseScheduler();
    const before = timersKeepingAlive();
    scheduler.cron('test:cron', '*/5 * * * *', async () => undefined);
    scheduler.interval('test:interval', 60_000, async () => undefined);
    try {
      expect(timersKeepingAlive()).toBe(before);
    } finally {
      scheduler.onApplicationShutdown();
    }
  });
});

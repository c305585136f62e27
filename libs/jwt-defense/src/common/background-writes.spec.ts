import { Logger } from '@nestjs/common';
import { SecurityEventService } from '../events/security-event.service.js';
import type { SecurityEvent } from '../events/security-event.js';
import { MemoryDefenseStore } from '../store/memory/memory-defense.store.js';
import { BackgroundWrites } from './background-writes.js';
import { DefenseClock } from './defense-clock.js';

/** The bound of BackgroundWrites (256 in flight, a constant of the module, not an option). */
const LIMIT = 256;

class FrozenClock extends DefenseClock {
  now = Date.UTC(2026, 0, 1);
  override nowMs(): number {
    return this.now;
  }
}

/** A write that stays in flight until released (or failed) by the test. */
function pendingWrite(): { write: () => Promise<void>; release: () => void; fail: (error: Error) => void; started: () => boolean } {
  let started = false;
  let release!: () => void;
  let fail!: (error: Error) => void;
  const promise = new Promise<void>((resolve, reject) => {
    release = resolve;
    fail = reject;
  });
  return {
    write: () => {
      started = true;
      return promise;
    },
    release: () => release(),
    fail: (error) => fail(error),
    started: () => started,
  };
}

describe('BackgroundWrites', () => {
  let clock: FrozenClock;
  let writes: BackgroundWrites;
  let events: SecurityEvent[];
  let warnings: string[];

  beforeEach(() => {
    clock = new FrozenClock();
    const eventService = new SecurityEventService(new MemoryDefenseStore(), clock);
    events = [];
    eventService.events$.subscribe((event) => events.push(event));
    writes = new BackgroundWrites(eventService);
    warnings = [];
    jest.spyOn(Logger.prototype, 'warn').mockImplementation((message: unknown) => void warnings.push(String(message)));
  });
  afterEach(() => jest.restoreAllMocks());

  const dropEvents = () => events.filter((event) => event.type === 'background_write_dropped');

  it(`runs up to ${LIMIT} writes in flight; past the bound each write is dropped and counted, and reported once per kind and minute`, async () => {
    const held = Array.from({ length: LIMIT }, pendingWrite);
    for (const write of held) writes.run('learn_context', write.write);
    expect(held.every((write) => write.started())).toBe(true);
    expect(writes.dropped).toBe(0);

    const overflow = Array.from({ length: 5 }, pendingWrite);
    for (const write of overflow) writes.run('learn_context', write.write);
    // Every write submitted is either started or counted as dropped: nothing is lost silently.
    expect(overflow.some((write) => write.started())).toBe(false);
    expect(writes.dropped).toBe(5);
    expect(dropEvents()).toHaveLength(1);
    expect(dropEvents()[0]).toMatchObject({ reason: 'too many writes in flight', details: { kind: 'learn_context', dropped: 1, suppressed: 0 } });
    expect(warnings).toEqual([expect.stringMatching(/^learn_context write dropped \(too many writes in flight\); 1 since boot$/)]);

    // Another kind is reported on its own, not folded into the first kind's sample.
    writes.run('record_challenge', pendingWrite().write);
    expect(writes.dropped).toBe(6);
    expect(dropEvents().map((event) => event.details!.kind)).toEqual(['learn_context', 'record_challenge']);

    // A minute later the next drop of the first kind is reported with how many were folded into the sample.
    clock.now += 60_000;
    writes.run('learn_context', pendingWrite().write);
    expect(writes.dropped).toBe(7);
    expect(dropEvents()).toHaveLength(3);
    expect(dropEvents()[2]).toMatchObject({ details: { kind: 'learn_context', dropped: 7, suppressed: 4 } });
    expect(warnings).toHaveLength(3);

    // Once the writes in flight finish, the bound frees up: a new write runs again.
    for (const write of held) write.release();
    await writes.settle();
    const after = pendingWrite();
    writes.run('learn_context', after.write);
    expect(after.started()).toBe(true);
    expect(writes.dropped).toBe(7);
    after.release();
    await writes.settle();
  });

  it('a write that fails is dropped the same way (counted, event, log), and settle() still resolves', async () => {
    const failing = pendingWrite();
    writes.run('learn_context', failing.write);
    expect(writes.dropped).toBe(0);
    failing.fail(Object.assign(new Error('connection lost'), { name: 'DefenseStoreUnavailableError' }));
    await writes.settle();
    expect(writes.dropped).toBe(1);
    expect(dropEvents()).toEqual([expect.objectContaining({ reason: 'DefenseStoreUnavailableError', details: expect.objectContaining({ kind: 'learn_context', dropped: 1 }) })]);
    expect(warnings).toHaveLength(1);
    // The failed write freed its slot: the full bound is available again.
    const held = Array.from({ length: LIMIT }, pendingWrite);
    for (const write of held) writes.run('learn_context', write.write);
    expect(held.every((write) => write.started())).toBe(true);
    expect(writes.dropped).toBe(1);
    for (const write of held) write.release();
    await writes.settle();
  });

  it('run() never throws, even when the write throws synchronously before returning a promise', async () => {
    expect(() =>
      writes.run('learn_context', () => {
        throw new Error('sync');
      }),
    ).not.toThrow();
    await writes.settle();
    expect(writes.dropped).toBe(1);
    expect(dropEvents()).toHaveLength(1);
  });
});

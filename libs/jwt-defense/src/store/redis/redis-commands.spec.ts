import type { Cluster } from 'ioredis';
import { DefenseStoreError } from '../defense-store.errors.js';
import { RedisCommands } from './redis-commands.js';

// The retry policy around one client's commands (real Redis Cluster migrations: test/faults/slot-migration).
// The client is a ready one that is never called: the commands below are plain functions that fail as ioredis does.
const client = { status: 'ready', once: () => undefined } as unknown as Cluster;
const tryAgain = () => Object.assign(new Error('TRYAGAIN Multiple keys request during rehashing of slot'), { name: 'ReplyError' });
const redirections = () => new Error('Too many Cluster redirections. Last error: ReplyError: MOVED 12484 127.0.0.1:7001');

describe('RedisCommands', () => {
  it('runs a command refused by a slot migration again until the migration closes', async () => {
    const commands = new RedisCommands(client, 500);
    const refusals = [tryAgain(), redirections(), tryAgain()];
    let calls = 0;
    const result = await commands.run(async () => {
      calls++;
      const refusal = refusals.shift();
      if (refusal) throw refusal;
      return 'ok';
    });
    expect([result, calls]).toEqual(['ok', 4]);
  });

  it('gives up at the timeout with a store error, and a migrating slot does not make other commands fail fast', async () => {
    let nowMs = 0;
    const commands = new RedisCommands(client, 100, () => nowMs);
    let calls = 0;
    const migrating = commands.run(async () => {
      calls++;
      nowMs += 30;
      throw tryAgain();
    });
    await expect(migrating).rejects.toThrow(DefenseStoreError);
    await expect(migrating).rejects.toThrow('a Redis Cluster slot stayed in migration for more than 100 ms');
    expect(calls).toBe(4); // 0 → 30 → 60 → 90 → 120 ms
    expect(commands.degraded).toBe(false);
    await expect(commands.run(async () => 'other slot')).resolves.toBe('other slot');
  });

  it.each([
    ['a connection closed under it', 'Too many Cluster redirections. Last error: Error: Connection is closed.'],
    ['a cluster down', 'Too many Cluster redirections. Last error: ReplyError: CLUSTERDOWN The cluster is down'],
  ])('never runs again a command whose redirections ended in %s (it may have run)', async (_name, message) => {
    const commands = new RedisCommands(client, 500);
    let calls = 0;
    const failing = commands.run(async () => {
      calls++;
      throw new Error(message);
    });
    await expect(failing).rejects.toBeInstanceOf(DefenseStoreError);
    expect(calls).toBe(1);
  });

  it('never runs again a command that may have run: a timeout fails it and opens the fail-fast gate', async () => {
    const commands = new RedisCommands(client, 100);
    let calls = 0;
    await expect(
      commands.run(async () => {
        calls++;
        throw new Error('Command timed out');
      }),
    ).rejects.toBeInstanceOf(DefenseStoreError);
    expect([calls, commands.degraded]).toEqual([1, true]);
    await expect(commands.run(async () => 'next')).rejects.toThrow('failing fast');
  });
});

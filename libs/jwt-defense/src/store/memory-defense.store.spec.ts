import { MemoryDefenseStore } from './memory-defense.store.js';

describe('MemoryDefenseStore', () => {
  it('is bounded: the oldest entries go first beyond maxEntries', async () => {
    const store = new MemoryDefenseStore({ maxEntries: 100 });
    for (let i = 0; i < 250; i++) await store.revokeToken('t', { jti: `j${i}`, reason: 'r', revokedAtMs: 0 }, 60_000);
    expect(store.size).toBe(100);
    await expect(store.getRevocation('t', 'j249')).resolves.toMatchObject({ jti: 'j249', reason: 'r' });
    await expect(store.getRevocation('t', 'j0')).resolves.toBeUndefined();
  });

  it('expires by timestamp, without a timer per entry', async () => {
    let now = 1_000_000;
    const store = new MemoryDefenseStore({ now: () => now });
    await store.revokeToken('t', { jti: 'a', reason: 'r', revokedAtMs: now }, 1000);
    now += 999;
    await expect(store.check({ tag: 't', sub: 's', jti: 'a' })).resolves.toMatchObject({ jtiRevoked: true });
    now += 1;
    await expect(store.check({ tag: 't', sub: 's', jti: 'a' })).resolves.toMatchObject({ jtiRevoked: false });
  });

  it('keeps a bounded ring of events, newest first', async () => {
    const store = new MemoryDefenseStore({ maxEvents: 5 });
    for (let i = 0; i < 12; i++) await store.appendEvent({ id: `e${i}`, type: 'token_revoked', at: '' });
    expect((await store.listEvents({ limit: 100 })).map((event) => event.id)).toEqual(['e11', 'e10', 'e9', 'e8', 'e7']);
  });
});

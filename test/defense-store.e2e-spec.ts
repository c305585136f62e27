import { randomBytes } from 'node:crypto';
import { MemoryDefenseStore, runDefenseStoreContract } from '@jwt-defense/core/store';
import { RedisDefenseStore } from '@jwt-defense/core/redis';
import { useRedisTopologies } from './support/redis-topologies.js';

const redis = useRedisTopologies();

const prefix = () => `t${randomBytes(4).toString('hex')}:`;

// The contract (libs/jwt-defense/src/store/contract/): what a custom store author runs too, from `@jwt-defense/core/store`.
runDefenseStoreContract('memory', () => new MemoryDefenseStore());
runDefenseStoreContract('redis standalone', async () => {
  const store = new RedisDefenseStore({ connection: redis.standalone.url, keyPrefix: prefix() });
  await store.ready();
  return store;
});
runDefenseStoreContract('redis cluster', async () => {
  const store = new RedisDefenseStore({ connection: { clusterNodes: redis.cluster.clusterNodes }, keyPrefix: prefix() });
  await store.ready(10_000);
  return store;
});

describe('RedisDefenseStore connections', () => {
  it('closes only the connections it opened; forRootAsync can inject an existing client', async () => {
    const { Redis } = await import('ioredis');
    const { Test } = await import('@nestjs/testing');
    const { JwtDefenseModule, RevocationService } = await import('@jwt-defense/core');
    const { fixtureOptions } = await import('./fixtures/fixture.app.js');

    const shared = new Redis(redis.standalone.url);
    const REDIS = Symbol('REDIS');
    const moduleRef = await Test.createTestingModule({
      imports: [
        JwtDefenseModule.forRootAsync({
          imports: [{ module: class RedisModule {}, providers: [{ provide: REDIS, useValue: shared }], exports: [REDIS] }],
          inject: [REDIS],
          useFactory: (client: InstanceType<typeof Redis>) =>
            fixtureOptions({ store: { type: 'redis', connection: client, keyPrefix: prefix() }, revocation: { cleanupCron: false } }),
        }),
      ],
    }).compile();
    await moduleRef.init();
    await moduleRef.get(RevocationService).revokeAllForUser('dave', 'test');
    await moduleRef.close();
    await expect(shared.ping()).resolves.toBe('PONG');
    shared.disconnect();

    const owned = new RedisDefenseStore({ connection: redis.standalone.url, keyPrefix: prefix() });
    await owned.ready();
    await owned.close();
    await expect(owned.client.ping()).rejects.toThrow();
  });

  it('refuses a key prefix that would move keys to another Cluster slot', () => {
    expect(() => new RedisDefenseStore({ connection: redis.standalone.url, keyPrefix: 'a{b}' })).toThrow(/keyPrefix must not contain/);
  });
});

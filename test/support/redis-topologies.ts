import { RedisClusterServer, RedisServer } from './redis-server.js';

/**
 * Starts a standalone Redis and a 3-master Cluster for the enclosing suite (and stops them after it).
 * Read them through the returned object once the suite's `beforeAll` has run.
 */
export function useRedisTopologies(): { standalone: RedisServer; cluster: RedisClusterServer } {
  const topologies = {} as { standalone: RedisServer; cluster: RedisClusterServer };
  beforeAll(async () => {
    [topologies.standalone, topologies.cluster] = await Promise.all([RedisServer.start(), RedisClusterServer.start()]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([topologies.standalone?.destroy(), topologies.cluster?.destroy()]);
  });
  return topologies;
}

import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';

/** How to reach Redis: an existing client (never closed by us), a URL, options, or Cluster nodes. */
export type RedisConnection =
  | Redis
  | Cluster
  | string
  | RedisOptions
  | { clusterNodes: ClusterNode[]; clusterOptions?: ClusterOptions };

export function isRedisClient(connection: unknown): connection is Redis | Cluster {
  return connection instanceof Redis || connection instanceof Cluster;
}

/**
 * Returns the client to use and whether we opened it (and so must close it). Connections we open never
 * let a request wait on a dead Redis: no offline queue, no retry of a command, a command timeout.
 */
export function openRedis(connection: RedisConnection, commandTimeoutMs = 500): { client: Redis | Cluster; owned: boolean } {
  if (isRedisClient(connection)) return { client: connection, owned: false };
  const safe: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: commandTimeoutMs,
    connectTimeout: 2000,
    retryStrategy: (times) => Math.min(50 * times, 1000),
  };
  let client: Redis | Cluster;
  if (typeof connection === 'string') {
    client = new Redis(connection, safe);
  } else if ('clusterNodes' in connection) {
    client = new Cluster(connection.clusterNodes, {
      enableOfflineQueue: false,
      clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
      // TRYAGAIN (a slot in migration): ioredis's own retries stay short, RedisCommands retries within the timeout.
      retryDelayOnTryAgain: 10,
      ...connection.clusterOptions,
      redisOptions: { ...safe, ...connection.clusterOptions?.redisOptions },
    });
  } else {
    client = new Redis({ ...safe, ...connection });
  }
  client.on('error', () => {
    // Connection errors surface as failed commands, where the fail mode decides; ioredis reconnects.
  });
  return { client, owned: true };
}

/** Resolves once the client is ready (or rejects after `timeoutMs`): our connections fail fast until then. */
export async function waitForRedis(client: Redis | Cluster, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      reject(new Error(`Redis not ready after ${timeoutMs} ms`));
    }, timeoutMs);
    client.once('ready', onReady);
  });
}

/** Closes a connection we opened (QUIT, or a hard disconnect when Redis is gone); leaves a shared one alone. */
export async function closeRedis(client: Redis | Cluster, owned: boolean): Promise<void> {
  if (!owned) return;
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

import { Logger } from '@nestjs/common';
import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';
import { redisUrlProblem } from './redis-url.js';

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

/** A client to use, whether we opened it (and so must close it), and what to say about its connection. */
export interface OpenedRedis {
  client: Redis | Cluster;
  owned: boolean;
  /** Where it connects: `host:port`, the socket path, or the Cluster's seed nodes. Never a credential. */
  endpoint: string;
  /** The last connection error since it was last ready (`ECONNREFUSED`, `ENOTFOUND`, `WRONGPASS`, a TLS code), if seen. */
  lastError(): string | undefined;
}

/**
 * Returns the client to use and whether we opened it (and so must close it). Connections we open never
 * let a request wait on a dead Redis: no offline queue, no retry of a command, a command timeout. With `log`, a
 * connection of ours that fails is logged once (host:port and the error's code, never a credential), and again
 * when it is back; a client you pass keeps its own error handling.
 */
export function openRedis(connection: RedisConnection, commandTimeoutMs = 500, log = false): OpenedRedis {
  if (typeof connection === 'string') {
    const problem = redisUrlProblem(connection);
    if (problem !== undefined) throw new TypeError(`jwt-defense: the Redis connection ${problem}`);
  }
  if (isRedisClient(connection)) return { client: connection, owned: false, endpoint: redisEndpoint(connection), lastError: () => undefined };
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
  const endpoint = redisEndpoint(client);
  const logger = new Logger('JwtDefense');
  let lastError: string | undefined;
  let wasReady = false;
  client.on('error', (error: unknown) => {
    // Connection errors also surface as failed commands, where the fail mode decides; ioredis reconnects.
    const code = connectionErrorCode(error);
    if (code === lastError) return;
    lastError = code;
    if (log) logger.warn(`Redis at ${endpoint} cannot be reached (${code}): each layer applies its fail mode until it answers; reconnecting`);
  });
  client.on('ready', () => {
    if (log && lastError !== undefined) logger.log(`Redis at ${endpoint} answers${wasReady ? ' again' : ''}`);
    lastError = undefined;
    wasReady = true;
  });
  return { client, owned: true, endpoint, lastError: () => lastError };
}

/** Where a client connects, for messages: `host:port`, the socket path, or the Cluster's seed nodes; never a credential. */
export function redisEndpoint(client: Redis | Cluster): string {
  if (client instanceof Cluster) {
    const nodes = (client as unknown as { startupNodes?: ClusterNode[] }).startupNodes ?? [];
    return `Cluster ${nodes.map(nodeEndpoint).join(',')}`;
  }
  const { path, host, port } = client.options;
  return path ? path : hostPort(host, port);
}

function nodeEndpoint(node: ClusterNode): string {
  if (typeof node === 'number') return hostPort(undefined, node);
  if (typeof node === 'string') {
    if (/^\d+$/.test(node)) return hostPort(undefined, Number(node));
    try {
      const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(node) ? node : `redis://${node}`);
      return hostPort(url.hostname, url.port === '' ? undefined : Number(url.port));
    } catch {
      return 'a node that is not a URL';
    }
  }
  return hostPort(node.host, node.port);
}

function hostPort(host: string | undefined, port: number | undefined): string {
  const name = host ?? 'localhost';
  return `${name.includes(':') && !name.startsWith('[') ? `[${name}]` : name}:${port ?? 6379}`;
}

/**
 * A connection error in one safe word: a system or TLS error's code (`ECONNREFUSED`, `ENOTFOUND`, `ETIMEDOUT`,
 * `DEPTH_ZERO_SELF_SIGNED_CERT`), or a Redis error's first word (`WRONGPASS`, `NOAUTH`); never the error's text,
 * which may quote what it was given.
 */
export function connectionErrorCode(error: unknown): string {
  const cause = (error as { lastNodeError?: unknown } | null)?.lastNodeError ?? error; // a Cluster: its last node's error
  const code = (cause as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[A-Z0-9_]{2,64}$/.test(code)) return code;
  const word = /^([A-Z][A-Z0-9_]{1,31})\b/.exec(String((cause as { message?: unknown } | null)?.message ?? ''))?.[1];
  if (word !== undefined) return word;
  const name = (cause as { name?: unknown } | null)?.name;
  return typeof name === 'string' && /^[A-Za-z]{2,64}$/.test(name) ? name : 'connection error';
}

/**
 * Resolves once the client is ready (or rejects after `timeoutMs`, naming where it connects and the last
 * connection error when `opened` knows them): our connections fail fast until then.
 */
export async function waitForRedis(client: Redis | Cluster, timeoutMs: number, opened?: Pick<OpenedRedis, 'endpoint' | 'lastError'>): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const onReady = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      client.off('ready', onReady);
      const last = opened?.lastError();
      reject(new Error(`Redis${opened ? ` at ${opened.endpoint}` : ''} not ready after ${timeoutMs} ms${last ? ` (${last})` : ''}`));
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

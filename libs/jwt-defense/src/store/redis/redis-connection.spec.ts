import { Cluster, Redis } from 'ioredis';
import { connectionErrorCode, redisEndpoint } from './redis-connection.js';

describe('redisEndpoint', () => {
  const clients: Array<Redis | Cluster> = [];
  afterAll(() => clients.forEach((client) => client.disconnect()));
  const lazy = <T extends Redis | Cluster>(client: T): T => (clients.push(client), client);

  it.each<[string, () => Redis | Cluster, string]>([
    ['a URL with credentials', () => lazy(new Redis('redis://jwtd:s3cret@10.0.0.5:6380/2', { lazyConnect: true })), '10.0.0.5:6380'],
    ['an IPv6 host', () => lazy(new Redis({ host: '::1', port: 6379, password: 's3cret', lazyConnect: true })), '[::1]:6379'],
    ['a socket path', () => lazy(new Redis('/var/run/redis.sock', { lazyConnect: true })), '/var/run/redis.sock'],
    [
      "a Cluster's seed nodes in every form",
      () => lazy(new Cluster([{ host: '10.0.0.1', port: 7000 }, 'redis://:s3cret@10.0.0.2:7001', 7002], { lazyConnect: true })),
      'Cluster 10.0.0.1:7000,10.0.0.2:7001,localhost:7002',
    ],
  ])('names %s by host:port alone', (_name, make, endpoint) => {
    expect(redisEndpoint(make())).toBe(endpoint);
  });
});

describe('connectionErrorCode', () => {
  it.each<[string, unknown, string]>([
    ['a refused connection', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6390'), { code: 'ECONNREFUSED' }), 'ECONNREFUSED'],
    ['an unknown host', Object.assign(new Error('getaddrinfo ENOTFOUND redis.internal'), { code: 'ENOTFOUND' }), 'ENOTFOUND'],
    ['a wrong password (a Redis error)', new Error('WRONGPASS invalid username-password pair or user is disabled.'), 'WRONGPASS'],
    ['a Cluster that reached no node', Object.assign(new Error('Failed to refresh slots cache.'), { name: 'ClusterAllFailedError', lastNodeError: Object.assign(new Error('x'), { code: 'ECONNREFUSED' }) }), 'ECONNREFUSED'],
    ['an error that quotes its input', new Error('bad redis://:secret@host'), 'Error'],
  ])('names %s by its code alone', (_name, error, code) => {
    expect(connectionErrorCode(error)).toBe(code);
  });
});

// `@jwt-defense/core/redis`: what needs ioredis (an optional peer), kept out of the main entry so an app without
// Redis neither installs nor type-checks ioredis. `JwtDefenseModule.forRoot({ store: { type: 'redis', connection } })`
// works without importing this entry: the module loads the Redis store lazily, on first use.
export { RedisDefenseStore } from './store/redis/redis-defense.store.js';
export type { RedisDefenseStoreOptions } from './store/redis/redis-defense.store.js';
export type { RedisConnection } from './store/redis/redis-connection.js';
export { RedisThrottlerStorage } from './throttling/redis-throttler.storage.js';
export type { RedisThrottlerStorageOptions } from './throttling/redis-throttler.storage.js';

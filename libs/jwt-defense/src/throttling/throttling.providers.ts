import type { Provider } from '@nestjs/common';
import { getOptionsToken, getStorageToken, type ThrottlerModuleOptions, type ThrottlerStorage } from '@nestjs/throttler';
import { DefenseClock } from '../common/defense-clock.js';
import { JWT_DEFENSE_OPTIONS } from '../jwt-defense.tokens.js';
import type { ResolvedJwtDefenseOptions } from '../jwt-defense.options.js';
import { DefenseStore } from '../store/defense-store.interface.js';
import { RedisDefenseStore } from '../store/redis-defense.store.js';
import { ClientIpResolver } from './client-ip.js';
import { BODY_THROTTLER, IP_THROTTLER } from './defense-throttler.guard.js';
import { MemoryThrottlerStorage } from './memory-throttler.storage.js';
import { RedisThrottlerStorage } from './redis-throttler.storage.js';

/**
 * What `DefenseThrottlerGuard` (a @nestjs/throttler guard) injects, provided inside JwtDefenseModule so an
 * app's own ThrottlerModule, if any, is left alone. The storage shares the defence store's Redis connection.
 */
export const throttlingProviders: Provider[] = [
  {
    provide: ClientIpResolver,
    useFactory: (options: ResolvedJwtDefenseOptions) => new ClientIpResolver(options.throttle.trustProxy, options.throttle.ipv6SubnetPrefix),
    inject: [JWT_DEFENSE_OPTIONS],
  },
  {
    provide: getOptionsToken(),
    // Limits and TTLs are set per request from the route's policy; these are placeholders.
    useFactory: (): ThrottlerModuleOptions => ({
      throttlers: [
        { name: IP_THROTTLER, limit: 1, ttl: 1000 },
        { name: BODY_THROTTLER, limit: 1, ttl: 1000 },
      ],
    }),
  },
  {
    provide: getStorageToken(),
    useFactory: (store: DefenseStore, options: ResolvedJwtDefenseOptions, clock: DefenseClock): ThrottlerStorage => {
      const algorithm = options.throttle.algorithm;
      const now = () => clock.nowMs();
      if (store instanceof RedisDefenseStore) {
        return new RedisThrottlerStorage({ connection: store.client, keyPrefix: store.prefix, algorithm, now });
      }
      return new MemoryThrottlerStorage({ algorithm, now });
    },
    inject: [DefenseStore, JWT_DEFENSE_OPTIONS, DefenseClock],
  },
];

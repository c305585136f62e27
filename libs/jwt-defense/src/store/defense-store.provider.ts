import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit, type Provider } from '@nestjs/common';
import { DefenseClock } from '../common/defense-clock.js';
import { JWT_DEFENSE_OPTIONS } from '../jwt-defense.tokens.js';
import type { ResolvedJwtDefenseOptions } from '../jwt-defense.options.js';
import { DefenseStore } from './defense-store.interface.js';
import { MemoryDefenseStore } from './memory-defense.store.js';
import { RedisDefenseStore } from './redis-defense.store.js';

/** Chooses the store from the options: the embedded memory store unless told otherwise. */
export const defenseStoreProvider: Provider = {
  provide: DefenseStore,
  useFactory: (options: ResolvedJwtDefenseOptions, clock: DefenseClock): DefenseStore => {
    const store = options.store;
    if (store.type === 'custom') return store.store;
    if (store.type === 'redis') {
      return new RedisDefenseStore({
        connection: store.connection,
        keyPrefix: store.keyPrefix,
        commandTimeoutMs: store.commandTimeoutMs,
        maxEvents: store.maxEvents,
      });
    }
    return new MemoryDefenseStore({ maxEntries: store.maxEntries, maxEvents: store.maxEvents, now: () => clock.nowMs() });
  },
  inject: [JWT_DEFENSE_OPTIONS, DefenseClock],
};

/** Waits for Redis at boot (commands fail fast while disconnected) and closes what we opened at shutdown. */
@Injectable()
export class DefenseStoreLifecycle implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('JwtDefense');
  private readyPromise?: Promise<void>;

  constructor(@Inject(DefenseStore) private readonly store: DefenseStore) {}

  onModuleInit(): Promise<void> {
    return this.ready();
  }

  /** Resolves when the store answers, or after the wait gave up (never rejects). */
  ready(): Promise<void> {
    this.readyPromise ??= (async () => {
      if (!(this.store instanceof RedisDefenseStore)) return;
      try {
        await this.store.waitUntilReady();
      } catch (error) {
        // Boot anyway: each layer applies its fail mode until Redis answers.
        this.logger.error(`defence store not reachable at boot: ${(error as Error).message}`);
      }
    })();
    return this.readyPromise;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}

/** Injects the {@link DefenseStore}. */
export const InjectDefenseStore = (): ParameterDecorator => Inject(DefenseStore);

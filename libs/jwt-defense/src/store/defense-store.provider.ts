import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit, type Provider } from '@nestjs/common';
import { Subject } from 'rxjs';
import { DefenseClock } from '../common/defense-clock.js';
import { JWT_DEFENSE_OPTIONS } from '../jwt-defense.tokens.js';
import type { JwtDefenseOptions } from '../jwt-defense.options.js';
import {
  DefenseStore,
  EventStore,
  GlobalStateStore,
  KeyRingStore,
  RateLimitStore,
  RequestCheckStore,
  RevocationStore,
  SessionStore,
  ContextStore,
} from './defense-store.ports.js';
import { CHECK_PARTS } from '../pipeline/check-parts.js';
import type { AnyCheckPart } from './check-part.js';
import { MemoryDefenseStore } from './memory/memory-defense.store.js';
import type { RedisConnection } from './redis/redis-connection.js';

/** Names of memory-store spaces that filled up (the event service records `store_full`). */
export const STORE_ALERTS = Symbol('JWT_DEFENSE_STORE_ALERTS');
export type StoreAlerts = Subject<string>;

/** Chooses the store from the options (the embedded memory store unless told otherwise), and maps every port to it. */
export const defenseStoreProviders: Provider[] = [
  { provide: STORE_ALERTS, useFactory: (): StoreAlerts => new Subject<string>() },
  {
    provide: DefenseStore,
    useFactory: async (options: JwtDefenseOptions, clock: DefenseClock, alerts: StoreAlerts, checkParts: readonly AnyCheckPart[]): Promise<DefenseStore> => {
      const store = options.store;
      if (store.type === 'custom') return store.store;
      if (store.type === 'redis') {
        // Loaded only when asked for: ioredis is an optional peer, and apps without Redis never load it.
        const { RedisDefenseStore } = await import('./redis/redis-defense.store.js').catch((error: unknown) => {
          const code = (error as { code?: unknown } | null)?.code;
          if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw error;
          throw new TypeError("jwt-defense: store.type 'redis' needs the package ioredis (an optional peer): npm install ioredis", { cause: error });
        });
        return new RedisDefenseStore({
          connection: store.connection as RedisConnection,
          logConnection: true,
          keyPrefix: store.keyPrefix,
          commandTimeoutMs: store.commandTimeoutMs,
          maxEvents: store.maxEvents,
          replicaAcks: store.replicaAcks,
          replicaAckTimeoutMs: store.replicaAckTimeoutMs,
          checkParts,
        });
      }
      return new MemoryDefenseStore({
        maxRevocations: store.maxRevocations,
        maxSessions: store.maxSessions,
        maxUserEpochs: store.maxUserEpochs,
        maxCounters: store.maxCounters,
        maxProfiles: store.maxProfiles,
        maxDpopProofs: store.maxDpopProofs,
        maxEvents: store.maxEvents,
        maxPerPrincipal: store.maxPerPrincipal,
        now: () => clock.nowMs(),
        onFull: (space) => alerts.next(space),
        checkParts,
      });
    },
    inject: [JWT_DEFENSE_OPTIONS, DefenseClock, STORE_ALERTS, CHECK_PARTS],
  },
  ...[RequestCheckStore, RateLimitStore, RevocationStore, GlobalStateStore, KeyRingStore, SessionStore, ContextStore, EventStore].map(
    (port): Provider => ({ provide: port, useExisting: DefenseStore }),
  ),
];

/** Waits for the store at boot (when it can say it is ready) and closes what it opened at shutdown. */
@Injectable()
export class DefenseStoreLifecycle implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('JwtDefense');
  private readyPromise?: Promise<void>;

  constructor(@Inject(DefenseStore) readonly store: DefenseStore) {}

  onModuleInit(): Promise<void> {
    return this.ready();
  }

  /** Resolves when the store answers, or after the wait gave up (never rejects). */
  ready(): Promise<void> {
    this.readyPromise ??= (async () => {
      if (!this.store.ready) return;
      try {
        await this.store.ready(5000);
      } catch (error) {
        // Boot anyway: each layer applies its fail mode until the store answers.
        this.logger.error(`defence store not reachable at boot: ${(error as Error).message}`);
      }
    })();
    return this.readyPromise;
  }

  async onApplicationShutdown(): Promise<void> {
    await this.store.close();
  }
}

/** Injects the whole {@link DefenseStore}. Prefer a port (`@Inject(RevocationStore)`) in your own services. */
export const InjectDefenseStore = (): ParameterDecorator => Inject(DefenseStore);

import { Inject, Injectable, Logger } from '@nestjs/common';
import { GlobalStateStore } from '../store/defense-store.ports.js';
import { DefenseClock } from './defense-clock.js';

/**
 * Where revocation epochs and the authentication times they are compared with come from: the store's clock when it
 * has one (`GlobalStateStore.timeMs`: Redis `TIME`), else this process's `DefenseClock`. With several instances on
 * one Redis, a revoke-all made on an instance whose clock runs fast must not make a login on one whose clock runs slow
 * look revoked: both instants are read from the same clock. Internal (not exported by the barrel).
 *
 * When the store cannot answer, this process's clock is used (the instances then disagree by at most their skew):
 * an access token can still be issued during an outage, and an epoch write would fail on its own anyway.
 */
@Injectable()
export class EpochClock {
  private readonly logger = new Logger('JwtDefense');

  constructor(
    @Inject(GlobalStateStore) private readonly store: GlobalStateStore,
    private readonly clock: DefenseClock,
  ) {}

  async nowMs(): Promise<number> {
    if (!this.store.timeMs) return this.clock.nowMs();
    try {
      return await this.store.timeMs();
    } catch (error) {
      this.logger.warn(`store clock not read, using this process's clock: ${(error as Error).message}`);
      return this.clock.nowMs();
    }
  }
}

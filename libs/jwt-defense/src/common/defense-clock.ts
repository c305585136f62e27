import { Injectable } from '@nestjs/common';

/**
 * The one source of time for jwt-defense. It reads `Date.now()`, so tests freeze it with
 * `jest.useFakeTimers({ now })`; an app may provide its own subclass.
 */
@Injectable()
export class DefenseClock {
  /** Milliseconds since the epoch. */
  nowMs(): number {
    return Date.now();
  }

  /** Whole seconds since the epoch (JWT NumericDate). */
  nowSec(): number {
    return Math.floor(this.nowMs() / 1000);
  }
}

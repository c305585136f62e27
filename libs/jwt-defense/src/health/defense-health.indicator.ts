import { Injectable } from '@nestjs/common';
import type { FailMode } from '../pipeline/fail-mode.js';
import { RevocationOptions } from '../revocation/revocation.options.js';
import { DefenseStoreLifecycle } from '../store/defense-store.provider.js';

/** One indicator's answer, in the shape `@nestjs/terminus` aggregates (`up`, `degraded` or `down`, plus details). */
export type DefenseHealthResult<Key extends string = string> = Record<
  Key,
  { status: 'up' | 'degraded' | 'down'; store: string; failMode: FailMode; latencyMs?: number; reason?: string }
>;

const PING_TIMEOUT_MS = 2000;

/**
 * Readiness of jwt-defense: can the store answer? Shaped like a `@nestjs/terminus` health indicator (no dependency on
 * it: pass `() => indicator.isHealthy()` to `HealthCheckService.check`). A store that does not answer is `down`
 * (terminus answers 503) when the per-request check fails closed (`revocation.failMode: 'closed'`, the default:
 * every authenticated request would be refused anyway, so a load balancer should route elsewhere), and `degraded`
 * (still 200) when it fails open.
 * @hideconstructor
 */
@Injectable()
export class DefenseHealthIndicator {
  constructor(
    private readonly lifecycle: DefenseStoreLifecycle,
    private readonly revocation: RevocationOptions,
  ) {}

  async isHealthy<const Key extends string = 'defense_store'>(key: Key = 'defense_store' as Key): Promise<DefenseHealthResult<Key>> {
    const store = this.lifecycle.store;
    const failMode = this.revocation.failMode;
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        store.ping(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS);
        }),
      ]);
      const latencyMs = Math.round((performance.now() - started) * 10) / 10;
      return { [key]: { status: 'up', store: store.kind, failMode, latencyMs } } as DefenseHealthResult<Key>;
    } catch (error) {
      // A store's own error says where it looks and why it cannot reach it (the Redis store: host:port and the code).
      const reason = (error as Error)?.name === 'DefenseStoreError' ? `the store does not answer: ${(error as Error).message}` : 'the store check failed';
      return { [key]: { status: failMode === 'closed' ? 'down' : 'degraded', store: store.kind, failMode, reason } } as DefenseHealthResult<Key>;
    } finally {
      clearTimeout(timer);
    }
  }
}

import { Get, Inject, ServiceUnavailableException, type BeforeApplicationShutdown } from '@nestjs/common';
import { DefenseStoreUnavailableException } from '../errors/defense.exceptions.js';
import { Public } from '../policy/defense-policy.decorator.js';
import { OpsServices } from './ops.services.js';

/**
 * Probes for an orchestrator: `live` (the process answers) and `ready` (the store answers; 503
 * `defense_store_unavailable` with `Retry-After` while a fail-closed store is down, `degraded` while a fail-open one
 * is). Both answer `{status}` only: the store's kind, fail mode and latency tell an attacker what to aim at, so they
 * are behind the admin API (`GET {path}/health`). From the application's shutdown on, both answer 503.
 */
@Public()
export class ProbesController implements BeforeApplicationShutdown {
  private shuttingDown = false;

  constructor(@Inject(OpsServices) private readonly ops: OpsServices) {}

  beforeApplicationShutdown(): void {
    this.shuttingDown = true;
  }

  @Get('live')
  live() {
    if (this.shuttingDown) throw new ServiceUnavailableException();
    return { status: 'ok' };
  }

  @Get('ready')
  async ready() {
    const { defense_store: store } = await this.ops.health.isHealthy('defense_store');
    if (store.status === 'down' || this.shuttingDown) throw new DefenseStoreUnavailableException();
    return { status: store.status === 'degraded' ? 'degraded' : 'ok' };
  }
}

/** `GET {path}/health`: the readiness details, for admins: the store's state (`up`, `degraded`, `down`), kind, fail mode, latency. */
export class AdminHealthController {
  constructor(@Inject(OpsServices) private readonly ops: OpsServices) {}

  @Get()
  async details() {
    const { defense_store: store } = await this.ops.health.isHealthy('defense_store');
    return {
      status: store.status,
      store: store.store,
      fail_mode: store.failMode,
      ...(store.latencyMs !== undefined ? { latency_ms: store.latencyMs } : {}),
      ...(store.reason !== undefined ? { reason: store.reason } : {}),
    };
  }
}

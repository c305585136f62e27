import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheckService } from '@nestjs/terminus';
import { DefenseHealthIndicator, JwtDefenseErrors, Public, RequireRoles } from '@jwt-defense/core';

/**
 * Probes for an orchestrator, with @nestjs/terminus: `live` (the process answers) and `ready` (jwt-defense's store
 * answers; 503 `defense_store_unavailable` while a fail-closed store is down). They answer `{status}` only: the store's
 * kind, fail mode and latency tell an attacker what to aim at, so they are behind the admin API (`GET /admin/health`).
 * `GET /health` keeps its own contract.
 */
@Public()
@Controller('health')
export class ProbesController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly defense: DefenseHealthIndicator,
  ) {}

  @Get('live')
  async live() {
    const { status } = await this.health.check([]);
    return { status };
  }

  @Get('ready')
  async ready() {
    try {
      const { status } = await this.health.check([() => this.defense.isHealthy('defense_store')]);
      return { status };
    } catch (error) {
      // The standard error body and Retry-After, like every other 503 of the API.
      if (error instanceof ServiceUnavailableException) throw new JwtDefenseErrors.DefenseStoreUnavailableException(error);
      throw error;
    }
  }
}

/** `GET /admin/health`: the readiness details, for admins: the store's state (`up`, `degraded`, `down`), kind, fail mode, latency. */
@RequireRoles('admin')
@Controller('admin/health')
export class AdminHealthController {
  constructor(private readonly defense: DefenseHealthIndicator) {}

  @Get()
  async details() {
    const { defense_store: store } = await this.defense.isHealthy('defense_store');
    return {
      status: store.status,
      store: store.store,
      fail_mode: store.failMode,
      ...(store.latencyMs !== undefined ? { latency_ms: store.latencyMs } : {}),
      ...(store.reason !== undefined ? { reason: store.reason } : {}),
    };
  }
}

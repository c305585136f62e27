import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheckService } from '@nestjs/terminus';
import { DefenseHealthIndicator, DefenseStoreUnavailableException, Public } from '@jwt-defense/core';

/**
 * Probes for an orchestrator, with @nestjs/terminus: `live` (the process answers) and `ready` (jwt-defense's store
 * answers; 503 `defense_store_unavailable` while a fail-closed store is down). `GET /health` keeps its own contract.
 */
@Public()
@Controller('health')
export class ProbesController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly defense: DefenseHealthIndicator,
  ) {}

  @Get('live')
  live() {
    return this.health.check([]);
  }

  @Get('ready')
  async ready() {
    try {
      return await this.health.check([() => this.defense.isHealthy('defense_store')]);
    } catch (error) {
      // The standard error body and Retry-After, like every other 503 of the API.
      if (error instanceof ServiceUnavailableException) throw new DefenseStoreUnavailableException(error);
      throw error;
    }
  }
}

import { Injectable, NotFoundException, SetMetadata, type CanActivate, type ExecutionContext, type NestMiddleware, type OnModuleInit } from '@nestjs/common';
import { HttpAdapterHost, ModuleRef } from '@nestjs/core';
import { SecurityEventService } from '../events/security-event.service.js';
import { DefenseHealthIndicator } from '../health/defense-health.indicator.js';
import { IncidentService } from '../incident/incident.service.js';
import { DefenseAuthenticator } from '../pipeline/defense-authenticator.js';
import { JwtDefenseGuard } from '../pipeline/jwt-defense.guard.js';
import { TokenService } from '../token/token.service.js';
import { DEFENSE_GUARD_METADATA } from '../policy/route-guards.js';
import type { JwtDefenseOpsOptions } from './ops.options.js';

/** Injection token of the resolved {@link JwtDefenseOpsOptions}. */
export const OPS_OPTIONS = Symbol('JWT_DEFENSE_OPS_OPTIONS');

/**
 * The services of the app's `JwtDefenseModule` that the operations endpoints use, found in the whole app (so the
 * defence module need not be global), once every provider exists.
 */
@Injectable()
export class OpsServices implements OnModuleInit {
  incident!: IncidentService;
  events!: SecurityEventService;
  tokens!: TokenService;
  health!: DefenseHealthIndicator;
  authenticator!: DefenseAuthenticator;
  guard!: JwtDefenseGuard;

  constructor(private readonly moduleRef: ModuleRef) {}

  onModuleInit(): void {
    const get = <T>(type: new (...args: never[]) => T): T => {
      try {
        return this.moduleRef.get(type, { strict: false });
      } catch {
        throw new TypeError('jwt-defense: JwtDefenseOpsModule needs JwtDefenseModule: import JwtDefenseModule.forRoot() or forRootAsync() in the same app');
      }
    };
    this.incident = get(IncidentService);
    this.events = get(SecurityEventService);
    this.tokens = get(TokenService);
    this.health = get(DefenseHealthIndicator);
    this.authenticator = get(DefenseAuthenticator);
    this.guard = get(JwtDefenseGuard);
  }
}

/**
 * Every operations route goes through the module's pipeline, also in an app without the global guard
 * (`globalGuard: false`): this runs `JwtDefenseGuard` itself. Behind the global guard it is the same request's second
 * run, which shares the first (limits counted once, the token checked once) and is authorized for this route.
 */
@Injectable()
// It is a JwtDefenseGuard to the boot check of unguarded routes (globalGuard: false), as a subclass would be.
@SetMetadata(DEFENSE_GUARD_METADATA, true)
export class OpsPipelineGuard implements CanActivate {
  constructor(private readonly ops: OpsServices) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    return this.ops.guard.canActivate(context);
  }
}

/**
 * The key endpoints (rotate, retire, JWKS) of a module without keys of its own answer as a route that does not
 * exist: the framework's own 404 (`Cannot POST /path`, through the app's exception filters), before any guard.
 */
@Injectable()
export class OwnKeysOnly implements NestMiddleware {
  constructor(
    private readonly ops: OpsServices,
    private readonly adapterHost: HttpAdapterHost,
  ) {}

  use(request: unknown, _response: unknown, next: () => void): void {
    if (this.ops.tokens.hasOwnKeys) return next();
    const adapter = this.adapterHost.httpAdapter;
    throw new NotFoundException(`Cannot ${adapter.getRequestMethod(request)} ${adapter.getRequestUrl(request)}`);
  }
}

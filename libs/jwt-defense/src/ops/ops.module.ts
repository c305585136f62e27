import { Controller, Inject, Module, UseGuards, type DynamicModule, type MiddlewareConsumer, type NestModule, type Type } from '@nestjs/common';
import { resolveOptions } from '../common/options.js';
import { RequireRoles } from '../policy/defense-policy.decorator.js';
import type { DashboardPaths } from './dashboard/dashboard.page.js';
import { DASHBOARD_PATHS, DashboardController } from './dashboard.controller.js';
import { IncidentController } from './incident.controller.js';
import { JsonOnlyGuard } from './json-only.guard.js';
import { JwksController, KeysController } from './keys.controller.js';
import { MetricsController } from './metrics.controller.js';
import { JwtDefenseOpsOptions, type JwtDefenseOpsModuleOptions } from './ops.options.js';
import { OPS_OPTIONS, OpsPipelineGuard, OpsServices, OwnKeysOnly } from './ops.services.js';
import { AdminHealthController, ProbesController } from './probes.controller.js';

/** The key controllers of one `forRoot()`: answered as not mounted while the module has no keys of its own. */
const KEY_CONTROLLERS = Symbol('JWT_DEFENSE_OPS_KEY_CONTROLLERS');

/**
 * A controller of this `forRoot()`: its own subclass of `base` (so two apps, or two calls, never share metadata) at
 * `path`, through the pipeline, with the class decorators given (roles, JSON only).
 */
function mount(base: Type, path: string, ...decorators: ClassDecorator[]): Type {
  const mounted = { [base.name]: class extends base {} }[base.name];
  for (const decorate of [Controller(path), UseGuards(OpsPipelineGuard), ...decorators]) decorate(mounted);
  return mounted;
}

/**
 * `JwtDefenseOpsModule.forRoot({ path, roles, incident, jwks, health, metrics, dashboard })`: the operations endpoints
 * of an app protected by `JwtDefenseModule` (which it finds in the app: import both). Admin routes need one of
 * `roles` through the module's pipeline (DPoP, lockdown, revocation, limits apply as on any route; with or without
 * the global guard); the probes, the JWKS and the dashboard page are public. See docs/OPERATIONS.md.
 * @hideconstructor
 */
@Module({})
export class JwtDefenseOpsModule implements NestModule {
  constructor(@Inject(KEY_CONTROLLERS) private readonly keyControllers: Type[]) {}

  static forRoot(options: JwtDefenseOpsModuleOptions = {}): DynamicModule {
    const resolved = resolveOptions(JwtDefenseOpsOptions, options, 'ops');
    const path = resolved.path.replace(/^\/|\/$/g, '');
    const admins = RequireRoles(...resolved.roles);
    const controllers: Type[] = [];
    const keyControllers: Type[] = [];
    if (resolved.incident) {
      controllers.push(mount(IncidentController, path, admins, UseGuards(JsonOnlyGuard)));
      keyControllers.push(mount(KeysController, `${path}/incident`, admins, UseGuards(JsonOnlyGuard)));
    }
    if (resolved.jwks) keyControllers.push(mount(JwksController, '.well-known'));
    if (resolved.health) controllers.push(mount(ProbesController, 'health'), mount(AdminHealthController, `${path}/health`, admins));
    if (resolved.metrics) controllers.push(mount(MetricsController, ''));
    const dashboard: DashboardPaths = {
      page: `/${path}/dashboard`,
      api: `/${path}`,
      login: resolved.dashboard ? resolved.dashboard.loginPath : '',
      logout: resolved.dashboard ? resolved.dashboard.logoutPath : undefined,
      ready: resolved.health ? '/health/ready' : undefined,
    };
    if (resolved.dashboard) controllers.push(mount(DashboardController, `${path}/dashboard`));
    return {
      module: JwtDefenseOpsModule,
      controllers: [...controllers, ...keyControllers],
      providers: [
        { provide: OPS_OPTIONS, useValue: resolved },
        { provide: DASHBOARD_PATHS, useValue: dashboard },
        { provide: KEY_CONTROLLERS, useValue: keyControllers },
        OpsServices,
        OpsPipelineGuard,
        JsonOnlyGuard,
        OwnKeysOnly,
      ],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    if (this.keyControllers.length > 0) consumer.apply(OwnKeysOnly).forRoutes(...this.keyControllers);
  }
}

import { APP_GUARD, type ApplicationConfig, type ModulesContainer } from '@nestjs/core';
import { getOptionsToken, ThrottlerGuard, type ThrottlerModuleOptions, type ThrottlerOptions } from '@nestjs/throttler';

/**
 * Set on `JwtDefenseGuard`, so on its subclasses too: the boot walk recognises the guard by it (the guard imports the
 * resolver, so the resolver cannot import the guard).
 */
export const DEFENSE_GUARD_METADATA = 'JWT_DEFENSE:GUARD';

/** Nest's `@UseGuards()` metadata key. */
const GUARDS_METADATA = '__guards__';

/** The guards of the app and its `ThrottlerModule` throttlers, read once at boot from every module. */
export interface AppGuards {
  /** What runs on every route: `APP_GUARD`s (instances, or classes when request-scoped) and `app.useGlobalGuards()`'s. */
  readonly global: readonly unknown[];
  /** A `ThrottlerGuard` (or a subclass) runs somewhere: an `APP_GUARD`, or `@UseGuards()` on any class or handler. */
  readonly throttlerGuard: boolean;
  /** The throttlers of the app's `ThrottlerModule`, if it has one. */
  readonly throttlers: readonly ThrottlerOptions[];
}

export function appGuardsOf(modules: ModulesContainer, config: ApplicationConfig): AppGuards {
  // `app.useGlobalGuards()` in main.ts: set before the app's init, so known when the resolver's boot walk runs.
  const global: unknown[] = [...config.getGlobalGuards()];
  const throttlers: ThrottlerOptions[] = [];
  let throttlerGuard = global.some(isThrottlerGuard);
  for (const module of modules.values()) {
    for (const wrapper of [...module.providers.values(), ...module.injectables.values()]) {
      // An alias (`useExisting`) names its class in `inject`; a request-scoped guard has no instance at boot.
      const candidates = [wrapper.instance, wrapper.metatype, ...(wrapper.inject ?? [])].filter((candidate) => candidate != null);
      if (wrapper.token === getOptionsToken()) throttlers.push(...throttlersOf(wrapper.instance as ThrottlerModuleOptions | undefined));
      if (typeof wrapper.token === 'string' && wrapper.token.startsWith(`${APP_GUARD} `)) global.push(...candidates);
      if (candidates.some(isThrottlerGuard)) throttlerGuard = true;
    }
  }
  return { global, throttlerGuard, throttlers };
}

/** The guards that run on a handler: the app's global ones, its class's and its own (`@UseGuards()`). */
export function guardsOn(app: AppGuards, handler: object, controller: object): unknown[] {
  const declared = (target: object) => (Reflect.getMetadata(GUARDS_METADATA, target) as unknown[] | undefined) ?? [];
  return [...app.global, ...declared(controller), ...declared(handler)];
}

const classOf = (guard: unknown): unknown => (typeof guard === 'function' ? guard : (guard as object | undefined)?.constructor);

export function isDefenseGuard(guard: unknown): boolean {
  const type = classOf(guard);
  return typeof type === 'function' && Reflect.getMetadata(DEFENSE_GUARD_METADATA, type) === true;
}

export function isThrottlerGuard(guard: unknown): boolean {
  const type = classOf(guard);
  return typeof type === 'function' && (type === ThrottlerGuard || type.prototype instanceof ThrottlerGuard);
}

/** The names of the app's `ThrottlerModule` throttlers that a `ThrottlerGuard` on this handler counts. */
export function namesCountedOn(app: AppGuards, guards: readonly unknown[]): ReadonlySet<string> {
  return new Set(guards.some(isThrottlerGuard) ? app.throttlers.map(nameOf) : []);
}

/**
 * Refuses the app's `ThrottlerModule` throttlers when no `ThrottlerGuard` runs: nothing reads them then (jwt-defense
 * counts its own `throttle.*` limits), so each would silently limit nothing. Beside a `ThrottlerGuard` (anywhere) they
 * are its windows, counted in whatever storage it has (ours included), and left alone.
 */
export function refuseUncountedThrottlers(app: AppGuards): void {
  if (app.throttlerGuard || app.throttlers.length === 0) return;
  const names = app.throttlers.map((throttler) => `"${nameOf(throttler)}"`).join(', ');
  throw new TypeError(
    `jwt-defense: ThrottlerModule's throttler${app.throttlers.length > 1 ? 's' : ''} ${names} limit${app.throttlers.length > 1 ? '' : 's'} nothing: no ThrottlerGuard runs in this app, ` +
      `and jwt-defense counts its own limits, not ThrottlerModule's. Use ${app.throttlers.map(instead).join('; ')} and remove ThrottlerModule, ` +
      'or register ThrottlerGuard (APP_GUARD or @UseGuards) to count them with @nestjs/throttler',
  );
}

function throttlersOf(options: ThrottlerModuleOptions | undefined): ThrottlerOptions[] {
  if (!options) return [];
  return (Array.isArray(options) ? options : options.throttlers) ?? [];
}

const nameOf = (throttler: ThrottlerOptions): string => throttler.name ?? 'default';

/** The module's option for what a throttler meant (`ttl` is in ms, as `ttlMs`). */
function instead(throttler: ThrottlerOptions): string {
  const name = nameOf(throttler);
  const numbers = typeof throttler.limit === 'number' && typeof throttler.ttl === 'number';
  const limit = numbers ? `{ limit: ${throttler.limit as number}, ttlMs: ${throttler.ttl as number} }` : '{ limit, ttlMs }';
  if (name === 'default' || name === 'ip') return `throttle.ip: ${limit} for "${name}"`;
  if (name === 'user') return `throttle.user: ${limit} for "user"`;
  return `throttle.profiles: { ${JSON.stringify(name)}: { ip: ${limit} } } with @DefensePolicy({ throttle: ${JSON.stringify(name)} }) on its routes for "${name}"`;
}

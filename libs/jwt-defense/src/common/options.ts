import { getMetadataStorage, validateSync, type ValidationError } from 'class-validator';

/**
 * The one way options are resolved in jwt-defense. Each layer declares an options class: defaults live in its
 * fields, leaf checks are class-validator decorators beside them, composite fields (`@Nested`, `@NestedUnion`,
 * `@NestedList`, `@NestedRecord`) are resolved recursively, and cross-field rules go in `@OptionsCheck`.
 * `resolveOptions` refuses any unknown name at any depth with its path and a suggestion, so a misspelling
 * (`throttle.failmode`) stops the app at boot instead of silently keeping a default.
 */

type Class<T = object> = new () => T;

/**
 * Brands an options class and names its required members (for {@link OptionsInput}): declare it as
 * `declare readonly [REQUIRED]?: { issuer: true; audience: true }` (or `{}`). A type-level marker, never set at runtime.
 */
export const REQUIRED: unique symbol = Symbol('jwt-defense:required-options');

/**
 * Names the member a nested options class also accepts on its own (for {@link OptionsInput}): with
 * `declare readonly [SHORTHAND]?: 'mode'`, `graphql: 'deny'` may be written for `graphql: { mode: 'deny' }`. A
 * type-level marker, never set at runtime; the field's `@Nested(..., { shorthand: 'mode' })` does the same at runtime.
 */
export const SHORTHAND: unique symbol = Symbol('jwt-defense:shorthand-option');

type NestedSpec =
  | { kind: 'one'; type: () => Class; orBoolean?: 'false' | 'true' | 'both'; shorthand?: string }
  | { kind: 'union'; discriminator: string; types: () => Record<string, Class> }
  | { kind: 'list'; type: () => Class }
  | { kind: 'record'; type: () => Class; orFalse?: boolean };

const NESTED = Symbol('jwt-defense:nested-options');
const CHECKS = Symbol('jwt-defense:options-checks');

type WithNested = { [NESTED]?: Map<string, NestedSpec>; [CHECKS]?: Array<(options: never, path: string) => void> };

function nestedOf(type: Function): Map<string, NestedSpec> {
  const own = new Map<string, NestedSpec>();
  for (let proto = type.prototype as WithNested | null; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    for (const [name, spec] of Object.prototype.hasOwnProperty.call(proto, NESTED) ? proto[NESTED]! : []) {
      if (!own.has(name)) own.set(name, spec);
    }
  }
  return own;
}

function defineNested(spec: NestedSpec): PropertyDecorator {
  return (target, property) => {
    const proto = target as WithNested;
    if (!Object.prototype.hasOwnProperty.call(proto, NESTED)) proto[NESTED] = new Map();
    proto[NESTED]!.set(String(property), spec);
  };
}

/**
 * A nested options object (`false`/`true` allowed when `orBoolean` says so; a value that is not an object stands for
 * `{ [shorthand]: value }` when `shorthand` names a member).
 */
export const Nested = (type: () => Class, options: { orBoolean?: 'false' | 'true' | 'both'; shorthand?: string } = {}) =>
  defineNested({ kind: 'one', type, ...options });
/** One of several options classes, chosen by the value of `discriminator` (e.g. `store.type`). */
export const NestedUnion = (discriminator: string, types: () => Record<string, Class>) => defineNested({ kind: 'union', discriminator, types });
/** A list of options objects. */
export const NestedList = (type: () => Class) => defineNested({ kind: 'list', type });
/** A name → options object map (e.g. throttle profiles); `false` entries allowed with `orFalse`. */
export const NestedRecord = (type: () => Class, options: { orFalse?: boolean } = {}) => defineNested({ kind: 'record', type, ...options });

/** A cross-field rule of an options class: throw {@link optionsError} when it does not hold. */
export function OptionsCheck<T>(check: (options: T, path: string) => void): ClassDecorator {
  return (target) => {
    const proto = target.prototype as WithNested;
    if (!Object.prototype.hasOwnProperty.call(proto, CHECKS)) proto[CHECKS] = [];
    proto[CHECKS]!.push(check as (options: never, path: string) => void);
  };
}

/** A `TypeError` whose message names the option (its full path) and the fix. */
export function optionsError(path: string, problem: string): TypeError {
  return new TypeError(`jwt-defense: invalid options: ${path} ${problem}`);
}

function join(path: string, name: string): string {
  return path ? `${path}.${name}` : name;
}

function knownNames(type: Class): Set<string> {
  const names = new Set(nestedOf(type).keys());
  for (const meta of getMetadataStorage().getTargetValidationMetadatas(type, '', true, false)) names.add(meta.propertyName);
  return names;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length];
}

function suggest(name: string, known: Set<string>): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = candidate.toLowerCase() === name.toLowerCase() ? 0 : distance(name, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  if (best !== undefined && bestDistance <= Math.max(2, Math.floor(name.length / 3))) return `did you mean "${best}"?`;
  return `known options here: ${[...known].sort().join(', ')}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function describe(errors: ValidationError[], path: string): string[] {
  return errors.flatMap((error) => {
    const at = join(path, error.property);
    return Object.values(error.constraints ?? {}).map((message) =>
      message.startsWith(`${error.property} `) ? `${at}${message.slice(error.property.length)}` : `${at}: ${message}`,
    );
  });
}

function resolveNested(spec: NestedSpec, value: unknown, path: string): unknown {
  switch (spec.kind) {
    case 'one':
      if (spec.shorthand !== undefined && !isPlainObject(value)) return resolveOptions(spec.type(), { [spec.shorthand]: value }, path);
      if (typeof value === 'boolean') {
        const allowed = spec.orBoolean === 'both' || spec.orBoolean === String(value);
        if (!allowed) throw optionsError(path, 'must be an object');
        return value === true && spec.orBoolean === 'both' ? resolveOptions(spec.type(), {}, path) : value;
      }
      return resolveOptions(spec.type(), value, path);
    case 'union': {
      const types = spec.types();
      const tag = isPlainObject(value) ? value[spec.discriminator] : undefined;
      const type = typeof tag === 'string' && Object.prototype.hasOwnProperty.call(types, tag) ? types[tag] : undefined;
      if (!type) {
        const names = Object.keys(types).map((name) => `'${name}'`).join(', ');
        throw optionsError(join(path, spec.discriminator), `must be one of ${names}`);
      }
      return resolveOptions(type, value, path);
    }
    case 'list':
      if (!Array.isArray(value)) throw optionsError(path, 'must be a list');
      return value.map((item, index) => resolveOptions(spec.type(), item, `${path}[${index}]`));
    case 'record': {
      if (!isPlainObject(value)) throw optionsError(path, 'must be an object of named entries');
      const out: Record<string, unknown> = {};
      for (const [name, item] of Object.entries(value)) {
        out[name] = item === false && spec.orFalse ? false : resolveOptions(spec.type(), item, join(path, name));
      }
      return out;
    }
  }
}

/**
 * Builds an instance of `type` from a raw user object: unknown names refused (with a suggestion), defaults
 * kept where the user gave nothing (or `undefined`), nested options resolved, leaf decorators and
 * `@OptionsCheck` rules applied. Throws a `TypeError` naming the full path of the first problems found.
 */
export function resolveOptions<T extends object>(type: Class<T>, raw: unknown, path = ''): T {
  const value = raw === undefined ? {} : raw;
  if (!isPlainObject(value)) throw optionsError(path || 'options', 'must be an object');
  const known = knownNames(type);
  for (const name of Object.keys(value)) {
    if (!known.has(name)) throw optionsError(join(path, name), `is not an option: ${suggest(name, known)}`);
  }
  const instance = new type() as Record<string, unknown>;
  for (const [name, given] of Object.entries(value)) {
    if (given !== undefined) instance[name] = given;
  }
  const nested = nestedOf(type);
  for (const [name, spec] of nested) {
    if (instance[name] === undefined) continue;
    instance[name] = resolveNested(spec, instance[name], join(path, name));
  }
  const errors = validateSync(instance, { forbidUnknownValues: false, validationError: { target: false, value: false } });
  if (errors.length > 0) throw new TypeError(`jwt-defense: invalid options: ${describe(errors, path).join('; ')}`);
  const checks: Array<(options: never, path: string) => void> = [];
  for (let proto = type.prototype as WithNested | null; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto)) {
    if (Object.prototype.hasOwnProperty.call(proto, CHECKS)) checks.unshift(...proto[CHECKS]!);
  }
  for (const check of checks) check(instance as never, path);
  return instance as T;
}

type Primitive = string | number | boolean | bigint | symbol | null | undefined;
type IsOptionsClass<T> = typeof REQUIRED extends keyof T ? true : false;
type RequiredKeys<T> = typeof REQUIRED extends keyof T ? Extract<keyof NonNullable<T[typeof REQUIRED & keyof T]>, keyof T> : never;
type ShorthandOf<T> = typeof SHORTHAND extends keyof T ? T[Extract<NonNullable<T[typeof SHORTHAND & keyof T]>, keyof T>] : never;

/** What a user writes for a field: nested options classes become their own input types, recursively. */
export type InputValue<T> = T extends Primitive | Function
  ? T
  : T extends ReadonlyArray<infer U>
    ? ReadonlyArray<InputValue<U>>
    : IsOptionsClass<T> extends true
      ? OptionsInput<T> | ShorthandOf<T>
      : T extends object
        ? string extends keyof T
          ? { [name: string]: InputValue<T[string & keyof T]> }
          : T
        : T;

/**
 * The input type of an options class: every member optional (it has a default) except those named by the
 * class's `[REQUIRED]` marker. Derived, so each option is declared (and documented) once, in its class.
 */
export type OptionsInput<T> = T extends unknown
  ? { [K in keyof T as K extends typeof REQUIRED | typeof SHORTHAND | RequiredKeys<T> ? never : K]?: InputValue<T[K]> } & {
      [K in keyof T as K extends RequiredKeys<T> ? K : never]-?: InputValue<T[K]>;
    }
  : never;

/**
 * The options of a class, for tooling (the configuration reference and its test), not for the hot path: every
 * name `resolveOptions` accepts, with the classes a nested one resolves to. Not exported from the package.
 */
export function describeOptionsClass(type: Class): Array<{ name: string; nested?: { kind: NestedSpec['kind']; types: Record<string, Class> } }> {
  const nested = nestedOf(type);
  return [...knownNames(type)].map((name) => {
    const spec = nested.get(name);
    if (!spec) return { name };
    const types = spec.kind === 'union' ? spec.types() : { '': spec.type() };
    return { name, nested: { kind: spec.kind, types } };
  });
}

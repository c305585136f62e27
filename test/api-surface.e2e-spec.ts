import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import * as core from '@jwt-defense/core';
import * as fastify from '@jwt-defense/core/fastify';
import * as opentelemetry from '@jwt-defense/core/opentelemetry';
import * as prometheus from '@jwt-defense/core/prometheus';
import * as redis from '@jwt-defense/core/redis';
import * as store from '@jwt-defense/core/store';

// The public API, entry by entry: every exported name with what it declares (class, function, const, interface, type,
// namespace) and, for what exists at run time, its `typeof`. Any change to it fails here, so that the API changes only
// on purpose: then run `API_SURFACE_UPDATE=1 npx jest test/api-surface.e2e-spec.ts`, commit test/api-surface.json, and
// say what moved in docs/MIGRATING.md and the CHANGELOG.

const root = join(__dirname, '..');
const snapshotPath = join(__dirname, 'api-surface.json');
const ENTRIES: Record<string, { file: string; runtime: object }> = {
  '@jwt-defense/core': { file: 'index.ts', runtime: core },
  '@jwt-defense/core/fastify': { file: 'fastify.ts', runtime: fastify },
  '@jwt-defense/core/opentelemetry': { file: 'opentelemetry.ts', runtime: opentelemetry },
  '@jwt-defense/core/prometheus': { file: 'prometheus.ts', runtime: prometheus },
  '@jwt-defense/core/redis': { file: 'redis.ts', runtime: redis },
  '@jwt-defense/core/store': { file: 'store.ts', runtime: store },
};

type Surface = Record<string, Record<string, string>>;

/** What each entry's declarations export (the names and kinds its `.d.ts` has), read by the compiler from the sources. */
interface Declared {
  kinds: string[];
  value: boolean;
  typeOnly: boolean;
  members?: Map<string, Declared>;
}

function declaredSurface(): Record<string, Map<string, Declared>> {
  const configPath = join(root, 'libs/jwt-defense/tsconfig.lib.json');
  const config = ts.getParsedCommandLineOfConfigFile(configPath, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (diagnostic) => { throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')); } });
  if (!config) throw new Error(`cannot read ${configPath}`);
  const files = Object.values(ENTRIES).map(({ file }) => join(root, 'libs/jwt-defense/src', file));
  const program = ts.createProgram(files, { ...config.options, noEmit: true });
  const checker = program.getTypeChecker();
  const describeSymbol = (symbol: ts.Symbol) => {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    const flags = target.flags;
    const kinds: string[] = [];
    if (flags & ts.SymbolFlags.Class) kinds.push('class');
    else if (flags & ts.SymbolFlags.Function) kinds.push('function');
    else if (flags & ts.SymbolFlags.Variable) kinds.push('const');
    if (flags & ts.SymbolFlags.ValueModule) kinds.push('namespace');
    if (flags & ts.SymbolFlags.Enum) kinds.push('enum');
    if (flags & ts.SymbolFlags.Interface) kinds.push('interface');
    if (flags & ts.SymbolFlags.TypeAlias) kinds.push('type');
    // A value that is not exported with `export type` must exist at run time.
    const declaration = symbol.declarations?.[0];
    const typeOnly = declaration !== undefined && ts.isExportSpecifier(declaration) && (declaration.isTypeOnly || declaration.parent.parent.isTypeOnly);
    return { target, kinds, value: (flags & ts.SymbolFlags.Value) !== 0, typeOnly };
  };
  const surface: ReturnType<typeof declaredSurface> = {};
  for (const [entry, { file }] of Object.entries(ENTRIES)) {
    const source = program.getSourceFile(join(root, 'libs/jwt-defense/src', file));
    const moduleSymbol = source && checker.getSymbolAtLocation(source);
    if (!moduleSymbol) throw new Error(`the compiler does not see ${file} as a module`);
    const names = new Map<string, Declared>();
    for (const symbol of checker.getExportsOfModule(moduleSymbol)) {
      const { target, ...described } = describeSymbol(symbol);
      const members = described.kinds.includes('namespace') ? new Map(checker.getExportsOfModule(target).map((member) => [member.name, describeSymbol(member)] as const)) : undefined;
      names.set(symbol.name, { ...described, members });
    }
    surface[entry] = names;
  }
  return surface;
}

/** One line per name: its declared kinds, then `: typeof` for what exists at run time. */
function describeName(declared: Declared | undefined, runtime: unknown, present: boolean): string {
  if (!declared) return `(not declared): ${typeof runtime}`;
  const kinds = declared.kinds.join(' + ');
  if (present) return `${kinds}: ${typeof runtime}`;
  if (declared.value && !declared.typeOnly) return `${kinds} (missing at run time)`;
  return declared.value ? `${kinds} (type-only export)` : kinds;
}

function currentSurface(): Surface {
  const declared = declaredSurface();
  const surface: Surface = {};
  for (const [entry, { runtime }] of Object.entries(ENTRIES)) {
    const names: Record<string, string> = {};
    const exported = runtime as Record<string, unknown>;
    const all = new Set([...declared[entry].keys(), ...Object.keys(exported)]);
    for (const name of [...all].sort()) {
      const declaration = declared[entry].get(name);
      names[name] = describeName(declaration, exported[name], name in exported);
      if (!declaration?.members) continue;
      const namespace = (exported[name] ?? {}) as Record<string, unknown>;
      const members = new Set([...declaration.members.keys(), ...Object.keys(namespace)]);
      for (const member of [...members].sort()) names[`${name}.${member}`] = describeName(declaration.members.get(member), namespace[member], member in namespace);
    }
    surface[entry] = names;
  }
  return surface;
}

/** The differences, as lines a reviewer reads: `+ entry name: kind`, `- entry name: kind`, `~ entry name: old → new`. */
function differences(before: Surface, after: Surface): string[] {
  const lines: string[] = [];
  for (const entry of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const was = before[entry] ?? {};
    const is = after[entry] ?? {};
    for (const name of new Set([...Object.keys(was), ...Object.keys(is)])) {
      if (!(name in is)) lines.push(`- ${entry} ${name}: ${was[name]}`);
      else if (!(name in was)) lines.push(`+ ${entry} ${name}: ${is[name]}`);
      else if (was[name] !== is[name]) lines.push(`~ ${entry} ${name}: ${was[name]} → ${is[name]}`);
    }
  }
  return lines;
}

describe('the public API (test/api-surface.json)', () => {
  const surface = currentSurface();

  it('is the committed list of names and kinds of every entry', () => {
    if (process.env.API_SURFACE_UPDATE === '1') writeFileSync(snapshotPath, `${JSON.stringify(surface, null, 2)}\n`);
    const committed = JSON.parse(readFileSync(snapshotPath, 'utf8')) as Surface;
    const changed = differences(committed, surface);
    if (changed.length > 0) {
      throw new Error(
        `the public API changed:\n${changed.join('\n')}\nIf on purpose: API_SURFACE_UPDATE=1 npx jest test/api-surface.e2e-spec.ts, commit test/api-surface.json, and say what moved in docs/MIGRATING.md and the CHANGELOG.`,
      );
    }
    expect(surface).toEqual(committed);
  });

  it('exports at run time exactly the values it declares (none declared and missing, none present and undeclared)', () => {
    const mismatched = Object.entries(surface).flatMap(([entry, names]) =>
      Object.entries(names)
        .filter(([, kind]) => kind.startsWith('(not declared)') || kind.endsWith('(missing at run time)'))
        .map(([name, kind]) => `${entry} ${name}: ${kind}`),
    );
    expect(mismatched).toEqual([]);
  });

  it('keeps the machinery out of the main entry: no pipeline, stage, context, policy resolver or check seam', () => {
    const main = Object.keys(surface['@jwt-defense/core']);
    for (const internal of ['RequestPipeline', 'CheckStage', 'PipelineContext', 'PolicyResolver', 'DefenseCheckRequest', 'DefenseCheckResult', 'JwtDefenseOptions', 'DefenseClock', 'BackgroundWrites']) {
      expect(main).not.toContain(internal);
    }
    // What the demo needs stays: the guard with its hooks' type, the errors to switch on.
    expect(surface['@jwt-defense/core']).toMatchObject({ JwtDefenseGuard: 'class: function', RoutePolicy: 'interface', JwtDefenseErrors: 'namespace: object', DefenseErrorCode: 'type' });
  });
});

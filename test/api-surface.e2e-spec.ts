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

let compiled: { program: ts.Program; checker: ts.TypeChecker } | undefined;

/** The compiler's view of every entry's sources, made once for this file's tests. */
function entriesProgram(): { program: ts.Program; checker: ts.TypeChecker } {
  if (compiled) return compiled;
  const configPath = join(root, 'libs/jwt-defense/tsconfig.lib.json');
  const config = ts.getParsedCommandLineOfConfigFile(configPath, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (diagnostic) => { throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')); } });
  if (!config) throw new Error(`cannot read ${configPath}`);
  const files = Object.values(ENTRIES).map(({ file }) => join(root, 'libs/jwt-defense/src', file));
  const program = ts.createProgram(files, { ...config.options, noEmit: true });
  compiled = { program, checker: program.getTypeChecker() };
  return compiled;
}

/** An entry's module symbol. */
function entryModule(file: string): ts.Symbol {
  const { program, checker } = entriesProgram();
  const source = program.getSourceFile(join(root, 'libs/jwt-defense/src', file));
  const moduleSymbol = source && checker.getSymbolAtLocation(source);
  if (!moduleSymbol) throw new Error(`the compiler does not see ${file} as a module`);
  return moduleSymbol;
}

function declaredSurface(): Record<string, Map<string, Declared>> {
  const { checker } = entriesProgram();
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
    const moduleSymbol = entryModule(file);
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

/** Every class an entry exports (namespaces' classes too), with the name users see. */
function exportedClasses(): Array<{ name: string; declaration: ts.ClassDeclaration }> {
  const { checker } = entriesProgram();
  const classes: Array<{ name: string; declaration: ts.ClassDeclaration }> = [];
  const visit = (symbol: ts.Symbol, name: string) => {
    const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    const declaration = target.declarations?.find(ts.isClassDeclaration);
    if (declaration) classes.push({ name, declaration });
    if (target.flags & ts.SymbolFlags.ValueModule) for (const member of checker.getExportsOfModule(target)) visit(member, `${name}.${member.name}`);
  };
  for (const { file } of Object.values(ENTRIES)) for (const symbol of checker.getExportsOfModule(entryModule(file))) visit(symbol, symbol.name);
  return classes;
}

/**
 * What a constructor's parameter names that users cannot: a type declared in the package and exported by no entry
 * (`RequestPipeline`, `DefenseClock`), or an `@Inject()` token of the package that no entry exports (`DEFENSE_METRICS`).
 */
function internalNames(parameter: ts.ParameterDeclaration, isPublic: (symbol: ts.Symbol) => boolean): string[] {
  const { checker } = entriesProgram();
  const found: string[] = [];
  const check = (node: ts.Node) => {
    const symbol = checker.getSymbolAtLocation(node);
    const target = symbol && symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
    const inPackage = target?.declarations?.some((declaration) => declaration.getSourceFile().fileName.includes('/libs/jwt-defense/src/'));
    if (target && inPackage && !isPublic(target)) found.push(target.name);
  };
  const walk = (node: ts.Node): void => {
    if (ts.isTypeReferenceNode(node)) check(ts.isQualifiedName(node.typeName) ? node.typeName.right : node.typeName);
    ts.forEachChild(node, walk);
  };
  if (parameter.type) walk(parameter.type);
  for (const decorator of ts.getDecorators(parameter) ?? []) {
    const call = decorator.expression;
    if (ts.isCallExpression(call) && ts.isIdentifier(call.expression) && call.expression.text === 'Inject' && call.arguments[0] && ts.isIdentifier(call.arguments[0])) check(call.arguments[0]);
  }
  return found;
}

// `npm run docs` (typedoc.json) documents the package's entries. Running typedoc takes about 25 s here, so this checks
// what it reads instead: its entry points against package.json `exports`, and the sources' tags for the constructors it
// must not show (`@hideconstructor` on a class Nest constructs; typedoc drops the constructor from the reference).
describe('the API reference (npm run docs, typedoc.json)', () => {
  it('has an entry point per export of package.json, and this file checks the surface of each', () => {
    const typedoc = JSON.parse(readFileSync(join(root, 'typedoc.json'), 'utf8')) as { entryPoints: string[] };
    const pkg = JSON.parse(readFileSync(join(root, 'libs/jwt-defense/package.json'), 'utf8')) as { name: string; exports: Record<string, unknown> };
    const exported = Object.keys(pkg.exports).filter((path) => path !== './package.json');
    const sourceOf = (path: string) => `libs/jwt-defense/src/${path === '.' ? 'index' : path.slice(2)}.ts`;
    expect([...typedoc.entryPoints].sort()).toEqual(exported.map(sourceOf).sort());
    expect(Object.keys(ENTRIES).sort()).toEqual(exported.map((path) => (path === '.' ? pkg.name : `${pkg.name}${path.slice(1)}`)).sort());
    expect(Object.values(ENTRIES).map(({ file }) => `libs/jwt-defense/src/${file}`).sort()).toEqual(exported.map(sourceOf).sort());
  });

  it('shows no constructor whose parameters are internal: such classes carry @hideconstructor', () => {
    const { checker } = entriesProgram();
    const publicSymbols = new Set<ts.Symbol>();
    for (const { file } of Object.values(ENTRIES)) {
      for (const symbol of checker.getExportsOfModule(entryModule(file))) {
        const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
        publicSymbols.add(target);
        if (target.flags & ts.SymbolFlags.ValueModule) for (const member of checker.getExportsOfModule(target)) publicSymbols.add(member.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(member) : member);
      }
    }
    const exposed: string[] = [];
    const hidden: string[] = [];
    for (const { name, declaration } of exportedClasses()) {
      const constructor = declaration.members.find(ts.isConstructorDeclaration);
      const internal = constructor?.parameters.flatMap((parameter) => internalNames(parameter, (symbol) => publicSymbols.has(symbol))) ?? [];
      const tagged = ts.getJSDocTags(declaration).some((tag) => tag.tagName.text === 'hideconstructor');
      if (internal.length > 0 && !tagged) exposed.push(`${name}(${[...new Set(internal)].join(', ')})`);
      if (tagged) hidden.push(name);
    }
    expect(exposed).toEqual([]);
    // The classes users inject are among them (the rule is not vacuous), and what users construct keeps its constructor.
    expect(hidden).toEqual(expect.arrayContaining(['JwtDefenseGuard', 'TokenService', 'RevocationService', 'IncidentService', 'RefreshTokenService']));
    expect(hidden).not.toEqual(expect.arrayContaining(['PrometheusDefenseMetrics']));
    expect(hidden).not.toEqual(expect.arrayContaining(['MemoryDefenseStore']));
  });
});

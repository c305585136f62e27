#!/usr/bin/env node
// `npm run pack:lib`: builds libs/jwt-defense into its dist/ (tsc, .js + .d.ts, no source maps), checks what the
// package would ship, and writes the tarball to dist/pack/ (printed on the last line).
//
// Checks, each a reason to fail:
// - every bare import in the built files is a Node builtin or is declared in the package's dependencies or
//   peerDependencies;
// - nothing reachable from the main entry or `/store` (`dist/index.js`, `dist/store.js` by static imports, their
//   `.d.ts` by any import) needs an optional peer (ioredis, fastify, prom-client, @opentelemetry/api): those live
//   behind `@jwt-defense/core/redis`, `/fastify`, `/prometheus` and `/opentelemetry`;
// - the tarball holds built .js and .d.ts, package.json, README.md, CHANGELOG.md and LICENSE, and nothing else;
// - CHANGELOG.md has a section for the version. The package's README.md is written here, from the root README.
import { execFileSync } from 'node:child_process';
import { builtinModules } from 'node:module';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const lib = join(root, 'libs/jwt-defense');
const dist = join(lib, 'dist');
const destination = join(root, 'dist/pack');
const pkg = JSON.parse(readFileSync(join(lib, 'package.json'), 'utf8'));
const problems = [];

function step(message) {
  console.log(`pack:lib: ${message}`);
}

// 1. Build.
rmSync(dist, { recursive: true, force: true });
step('tsc -p libs/jwt-defense/tsconfig.lib.json');
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(lib, 'tsconfig.lib.json')], { stdio: 'inherit' });

// 2. Imports of the built files.
const files = [];
(function walk(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path);
    else files.push(path);
  }
})(dist);

const IMPORT = /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^'"`;]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
function importsOf(file) {
  const text = readFileSync(file, 'utf8');
  const found = [];
  for (const match of text.matchAll(IMPORT)) {
    const dynamic = match[2] !== undefined;
    found.push({ specifier: match[1] ?? match[2], dynamic });
  }
  return found;
}
const packageName = (specifier) => (specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]);
const builtins = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]));
const declared = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.peerDependencies ?? {})]);
const optionalPeers = new Set(Object.entries(pkg.peerDependenciesMeta ?? {}).filter(([, meta]) => meta.optional).map(([name]) => name));

for (const file of files) {
  for (const { specifier } of importsOf(file)) {
    if (specifier.startsWith('.') || builtins.has(specifier) || builtins.has(specifier.split('/')[0])) continue;
    if (!declared.has(packageName(specifier))) problems.push(`${relative(lib, file)} imports ${specifier}, which package.json does not declare`);
  }
}

// 3. What the main entry (and the custom-store entry) reaches must not need an optional peer.
function reach(entry, followDynamic) {
  const seen = new Set();
  const stack = [entry];
  const external = [];
  while (stack.length > 0) {
    const file = stack.pop();
    if (seen.has(file)) continue;
    seen.add(file);
    for (const { specifier, dynamic } of importsOf(file)) {
      if (dynamic && !followDynamic) continue;
      if (!specifier.startsWith('.')) {
        external.push({ file, specifier });
        continue;
      }
      let target = resolve(dirname(file), specifier);
      if (file.endsWith('.d.ts')) target = target.replace(/\.js$/, '.d.ts');
      if (existsSync(target)) stack.push(target);
      else problems.push(`${relative(lib, file)} imports ${specifier}, which is not in the build`);
    }
  }
  return external;
}
for (const entry of ['index.js', 'index.d.ts', 'store.js', 'store.d.ts']) {
  for (const { file, specifier } of reach(join(dist, entry), false)) {
    if (optionalPeers.has(packageName(specifier))) {
      problems.push(`the entry ${entry} reaches ${relative(lib, file)}, which imports the optional peer ${specifier}: move it behind a subpath export`);
    }
  }
}

// 4. The package's README is the user part of the repository's (up to "## Working on this repository"), with
// links into the repository written as paths; and CHANGELOG.md must have a section for the version.
const rootReadme = readFileSync(join(root, 'README.md'), 'utf8');
const userPart = rootReadme.split(/^## Working on this repository$/m)[0];
if (userPart === rootReadme || !userPart.includes('<!-- quick-start -->')) {
  problems.push('README.md must have a <!-- quick-start --> block and a "## Working on this repository" heading after the user part');
}
writeFileSync(
  join(lib, 'README.md'),
  `${userPart.replace(/\[([^\]]+)\]\(((?:docs|libs|apps)\/[^)#]+)(#[^)]*)?\)/g, (_all, text, path) => (text === path ? `\`${path}\`` : `${text} (\`${path}\` in the repository)`)).trimEnd()}\n`,
);
if (!readFileSync(join(lib, 'CHANGELOG.md'), 'utf8').includes(`## [${pkg.version}]`)) problems.push(`libs/jwt-defense/CHANGELOG.md has no section for ${pkg.version}`);

if (problems.length > 0) {
  for (const problem of problems) console.error(`pack:lib: ${problem}`);
  process.exit(1);
}

// 5. Pack, and check the tarball's contents.
mkdirSync(destination, { recursive: true });
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const [report] = JSON.parse(execFileSync(npm, ['pack', '--json', '--pack-destination', destination], { cwd: lib, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
const allowed = /^(dist\/.+\.(js|d\.ts)|package\.json|README\.md|CHANGELOG\.md|LICENSE)$/;
const unexpected = report.files.map((file) => file.path).filter((path) => !allowed.test(path) || /\.(spec|e2e-spec)\./.test(path));
for (const required of ['LICENSE', 'README.md', 'CHANGELOG.md', 'package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/redis.js', 'dist/fastify.js', 'dist/prometheus.js', 'dist/opentelemetry.js', 'dist/store.js', 'dist/store.d.ts']) {
  if (!report.files.some((file) => file.path === required)) unexpected.push(`(missing) ${required}`);
}
if (unexpected.length > 0) {
  console.error(`pack:lib: the tarball would ship unexpected files: ${unexpected.join(', ')}`);
  process.exit(1);
}
step(`${report.files.length} files, ${(report.size / 1024).toFixed(0)} kB packed, ${(report.unpackedSize / 1024).toFixed(0)} kB unpacked`);
console.log(join(destination, report.filename));

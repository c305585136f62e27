#!/usr/bin/env node
// `npm run test:package`: packs @jwt-defense/core (scripts/pack-lib.mjs), then installs the tarball in apps that
// `nest new` generates OUTSIDE the repository (a fresh temp dir, removed at the end; nothing cached in the repo):
//
//   nest12-esm   latest Nest 12 as `nest new` makes it (ESM), + @nestjs/platform-fastify and ioredis
//   nest12-cjs   latest Nest 12 made CommonJS (no "type": "module", no top-level await), Express only: neither
//                fastify nor ioredis installed, so it is the Express-only type check of the declarations
//   nest11-cjs   latest Nest 11 as `nest new` makes it (CommonJS, TypeScript ^5.7 → the latest 5.x), + Fastify
//
// In each: the README's quick start becomes src/app.module.ts as is, its operations snippet (<!-- ops-quick-start -->)
// src/ops.module.ts as is, a probe module imports both and adds a route that reads `req.user`, two public routes (one
// with @nestjs/throttler's `@SkipThrottle()`) and one that mints an admin token, `skipLibCheck` is turned off,
// `nest build` compiles it, and each adapter is booted and probed over HTTP: 401 without a token, login → 200 and
// a token, 200 on /me, 403 on /admin, req.user set, the IP limit reached on a counted route while the
// @SkipThrottle() one still answers, and on Fastify a URL its router refuses gets our 400 (the /fastify subpath); the
// operations module: /metrics with an admin token (403 to alice), an admin's revoke-before kills alice's earlier
// token (a new login works), the dashboard page loads in headless Chromium with no console error.
// Each app also compiles and runs a custom store from `@jwt-defense/core/store` and the `JwtDefenseErrors` namespace.
// With redis-server on the machine, nest12-esm also runs the Redis store and RedisThrottlerStorage from the
// installed package against a throwaway Redis.
// Then each app runs src/defense-checks.ts (scripts/test-package-checks.mjs, built in the same `nest build`), #22 as a
// user's own app meets it: refresh() errors are 401s with no catch (item 4, Express and Fastify), named throttlers
// refuse the boot (5), an unguarded route is warned about (6), a provider-only app against a real OpenID provider
// (test/support/oidc-provider.ts, started once) answers its tokens (2) and, with Redis, the installed CLI checks
// --issuer against the issuers an app declared (7); boot errors name the fix (8).
//
// Needs the npm registry. Options: --only <app>[,<app>], --keep (keep the temp dir), --json <file> (results).
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkSources, runDefenseChecks, startOidcProvider } from './test-package-checks.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const option = (name) => {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : undefined;
};
const keep = args.includes('--keep');
const only = option('--only')?.split(',');
const jsonOut = option('--json');

const APPS = [
  { name: 'nest12-esm', cli: '12', module: 'esm', fastify: true, redis: true, extra: ['@nestjs/platform-fastify@12', 'ioredis@5', 'prom-client@15'] },
  { name: 'nest12-cjs', cli: '12', module: 'cjs', fastify: false, redis: false, extra: ['prom-client@15'] },
  { name: 'nest11-cjs', cli: '11', module: 'cjs', fastify: true, redis: false, extra: ['@nestjs/platform-fastify@11', 'prom-client@15'] },
].filter((app) => !only || only.includes(app.name));

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)}s`;
const log = (app, message) => console.log(`[${elapsed().padStart(4)}] ${app.padEnd(10)} ${message}`);

/** Runs a command; its output goes to the app's log file. Rejects with the log's tail on failure or timeout. */
function run(app, command, commandArgs, { cwd, env = {}, timeoutMs = 10 * 60_000 } = {}) {
  return new Promise((resolvePromise, reject) => {
    const line = `$ ${command} ${commandArgs.join(' ')}\n`;
    writeFileSync(app.logFile, line, { flag: 'a' });
    const child = spawn(command, commandArgs, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk) => {
      output += chunk;
      writeFileSync(app.logFile, chunk, { flag: 'a' });
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolvePromise(output);
      else reject(new Error(`${command} ${commandArgs.join(' ')} → ${signal ?? `exit ${code}`}\n${tail(output, 40)}`));
    });
  });
}

const tail = (text, lines) => text.split('\n').slice(-lines).join('\n');

function freePort() {
  return new Promise((resolvePromise, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePromise(port));
    });
  });
}

// ---------------------------------------------------------------- the app's files

/** The README's ```ts block marked `<!-- <marker> -->`, verbatim. */
function readmeSnippet(marker) {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const block = readme.match(new RegExp(`<!-- ${marker} -->\\s*\`\`\`ts\\n([\\s\\S]*?)\`\`\``))?.[1];
  if (!block) throw new Error(`README.md has no <!-- ${marker} --> \`\`\`ts block`);
  return block;
}
const quickStart = () => readmeSnippet('quick-start');

const PROBE_MODULE = `import { Controller, Get, Module, Req } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { SkipThrottle, Throttle } from '@nestjs/throttler';
import { Public, TokenService } from '@jwt-defense/core';
import { AppModule } from './app.module.js';
import { OpsModule } from './ops.module.js';

@Controller('probe')
export class ProbeController {
  constructor(private readonly moduleRef: ModuleRef) {}

  /** The quick start's users are not admins: the operations checks get their admin token here. */
  @Public() @Get('admin-token') async adminToken() {
    return { token: (await this.moduleRef.get(TokenService, { strict: false }).issue('root', { roles: ['admin'] })).token };
  }

  /** Code written for passport-jwt reads the principal from req.user. */
  @Get('user') user(@Req() req: { user?: { sub: string } }) { return { user: req.user?.sub ?? null }; }
  @Public() @Get('counted') counted() { return { ok: true }; }
  @Public() @SkipThrottle() @Get('skipped') skipped() { return { ok: true }; }
  @Public() @Throttle({ default: { limit: 2, ttl: 60_000 } }) @Get('tight') tight() { return { ok: true }; }
}

@Module({ imports: [AppModule, OpsModule], controllers: [ProbeController] })
export class ProbeModule {}
`;

function mainFile(app) {
  const imports = [`import { NestFactory } from '@nestjs/core';`, `import { ProbeModule } from './probe.module.js';`];
  let create = `await NestFactory.create(ProbeModule, { logger: ['error', 'warn'] })`;
  if (app.fastify) {
    imports.push(`import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';`);
    imports.push(`import { fastifyFrameworkErrors } from '@jwt-defense/core/fastify';`);
    create = `process.env.HTTP_ADAPTER === 'fastify'
      ? await NestFactory.create<NestFastifyApplication>(ProbeModule, new FastifyAdapter({ frameworkErrors: fastifyFrameworkErrors() }), { logger: ['error', 'warn'] })
      : ${create}`;
  }
  return `${imports.join('\n')}

async function bootstrap() {
  const app = ${create};
  app.enableShutdownHooks();
  await app.listen(0, '127.0.0.1');
  console.log(\`PROBE_LISTENING \${await app.getUrl()}\`);
}
${app.module === 'esm' ? 'await bootstrap();' : 'void bootstrap();'}
`;
}

const REDIS_CHECK = `import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { JwtDefenseModule, RevocationService, TokenService } from '@jwt-defense/core';
import { RedisThrottlerStorage, type RedisConnection } from '@jwt-defense/core/redis';
import { readFileSync } from 'node:fs';

const url = process.env.REDIS_URL!;
const connection = url satisfies RedisConnection;

@Module({
  imports: [
    JwtDefenseModule.forRoot({
      token: { issuer: 'redis-check', audience: 'redis-check', keys: [{ kid: 'k1', algorithms: ['ES256'], privateKey: readFileSync('es256.pem') }] },
      store: { type: 'redis', connection, keyPrefix: 'pkgtest:' },
    }),
  ],
})
class RedisCheckModule {}

const app = await NestFactory.createApplicationContext(RedisCheckModule, { logger: ['error'] });
const tokens = app.get(TokenService);
const issued = await tokens.issue('alice', { roles: ['user'] });
const revocation = app.get(RevocationService);
const before = await revocation.isRevoked(issued.jti, 'alice');
await revocation.revoke(issued.jti, { reason: 'package test', sub: 'alice' });
const after = await revocation.isRevoked(issued.jti, 'alice');
// A plain @nestjs/throttler storage, used right after construction from a URL.
const storage = new RedisThrottlerStorage({ connection: url, keyPrefix: 'pkgtest:' });
const first = await storage.increment('client', 60_000, 2, 60_000, 'default');
await storage.close();
await app.close();
console.log('REDIS_CHECK ' + JSON.stringify({ before, after, totalHits: first.totalHits }));
`;

// The non-HTTP entries from the installed package, in every app (ESM and CommonJS, with or without ioredis): a custom
// store given as `MemoryDefenseStore` from `@jwt-defense/core/store` serves the module, and `JwtDefenseErrors` holds
// the class `TokenService.verify` throws.
const STORE_CHECK = `import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { JwtDefenseErrors, JwtDefenseModule, RevocationService, TokenService } from '@jwt-defense/core';
import { MemoryDefenseStore } from '@jwt-defense/core/store';
import { readFileSync } from 'node:fs';

const store = new MemoryDefenseStore();

@Module({
  imports: [
    JwtDefenseModule.forRoot({
      token: { issuer: 'store-check', audience: 'store-check', keys: [{ kid: 'k1', algorithms: ['ES256'], privateKey: readFileSync('es256.pem') }] },
      store: { type: 'custom', store },
      revocation: { cleanupCron: false },
    }),
  ],
})
class StoreCheckModule {}

async function main() {
  const app = await NestFactory.createApplicationContext(StoreCheckModule, { logger: ['error'] });
  const tokens = app.get(TokenService);
  const issued = await tokens.issue('alice');
  const revocation = app.get(RevocationService);
  await revocation.revoke(issued.jti, { reason: 'package test', sub: 'alice' });
  const revoked = (await revocation.isRevoked(issued.jti, 'alice')) && store.sizes.revocations === 1;
  const refused = await tokens.verify(issued.token + 'x').then(() => 'accepted', (error: unknown) => error instanceof JwtDefenseErrors.TokenVerificationError ? error.code : String(error));
  await app.close();
  console.log('STORE_CHECK ' + JSON.stringify({ kind: store.kind, revoked, refused }));
}
void main();
`;

// ---------------------------------------------------------------- probes

async function http(base, method, path, { token, body } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body) headers['content-type'] = 'application/json';
  const response = await fetch(base + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const text = await response.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, body: json };
}

/** A raw request line (fetch would normalise the URL that Fastify's router must see). */
function rawGet(base, path) {
  const { hostname, port } = new URL(base);
  return new Promise((resolvePromise, reject) => {
    const req = request({ hostname, port, path, method: 'GET' }, (res) => {
      let data = '';
      res.on('data', (chunk) => (data += chunk));
      res.on('end', () => resolvePromise({ status: res.statusCode, body: data }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function probe(base, adapter) {
  const checks = [];
  const check = (name, ok, detail) => checks.push({ name, ok: Boolean(ok), detail: ok ? undefined : detail });

  const anonymous = await http(base, 'GET', '/me');
  check('401 token_missing without a token', anonymous.status === 401 && anonymous.body?.code === 'token_missing' && /^Bearer realm=/.test(anonymous.headers.get('www-authenticate') ?? ''), anonymous);
  check('security headers on the 401', anonymous.headers.get('x-content-type-options') === 'nosniff' && anonymous.headers.get('cache-control') === 'no-store', Object.fromEntries(anonymous.headers));

  const wrong = await http(base, 'POST', '/login', { body: { username: 'alice', password: 'wrong' } });
  check('login with a wrong password → 401', wrong.status === 401, wrong);
  const login = await http(base, 'POST', '/login', { body: { username: 'alice', password: 'alice-password' } });
  const token = login.body?.access_token;
  check('login → 200 {access_token, token_type: Bearer, expires_in: 300}', login.status === 200 && typeof token === 'string' && login.body.token_type === 'Bearer' && login.body.expires_in === 300, login);

  const me = await http(base, 'GET', '/me', { token });
  check('200 on /me with the token', me.status === 200 && me.body?.sub === 'alice' && me.headers.get('cache-control') === 'no-store', me);
  const forged = await http(base, 'GET', '/me', { token: `${token}x` });
  check('401 with a tampered token', forged.status === 401 && ['signature_invalid', 'token_malformed'].includes(forged.body?.code), forged);
  const admin = await http(base, 'GET', '/admin', { token });
  check('403 insufficient_scope on @RequireRoles(admin)', admin.status === 403 && admin.body?.code === 'insufficient_scope', admin);
  const user = await http(base, 'GET', '/probe/user', { token });
  check('req.user is the principal', user.status === 200 && user.body?.user === 'alice', user);

  checks.push(...(await probeOps(base, token)));

  const tight = [];
  for (let i = 0; i < 3; i++) tight.push(await http(base, 'GET', '/probe/tight'));
  check('@Throttle({ default: { limit: 2 } }) honoured: 200, 200, then 429 rate_limited', tight.map((answer) => answer.status).join() === '200,200,429' && tight[2].body?.code === 'rate_limited', tight.map((answer) => answer.status));

  // The IP budget (100 a minute across routes) runs out on a counted route; @SkipThrottle() routes still answer.
  let passed = 0;
  let limited;
  for (let i = 0; i < 120 && !limited; i++) {
    const answer = await http(base, 'GET', '/probe/counted');
    if (answer.status === 200) passed++;
    else limited = answer;
  }
  check('the per-IP limit answers 429 rate_limited with Retry-After', limited?.status === 429 && limited.body?.code === 'rate_limited' && Number(limited.headers.get('retry-after')) > 0 && passed < 100, { passed, limited });
  const skipped = await Promise.all([1, 2, 3].map(() => http(base, 'GET', '/probe/skipped')));
  check('@SkipThrottle() honoured: 200 after the limit', skipped.every((answer) => answer.status === 200), skipped.map((answer) => answer.status));

  if (adapter === 'fastify') {
    const refused = await rawGet(base, '/%zz');
    let body;
    try {
      body = JSON.parse(refused.body);
    } catch {
      body = undefined;
    }
    check("fastifyFrameworkErrors (@jwt-defense/core/fastify): router's refusal → 400 invalid_request", refused.status === 400 && body?.code === 'invalid_request', refused);
  }
  return checks;
}

/** The operations module of the README's snippet: /metrics, revoke-before, the dashboard in Chromium. */
async function probeOps(base, aliceToken) {
  const checks = [];
  const check = (name, ok, detail) => checks.push({ name, ok: Boolean(ok), detail: ok ? undefined : detail });
  const adminToken = async () => (await http(base, 'GET', '/probe/admin-token')).body?.token;

  const admin = await adminToken();
  const metrics = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${admin}` } });
  const asAlice = await http(base, 'GET', '/metrics', { token: aliceToken });
  // Express 5.2 writes the charset before `version` (5.3 keeps the declared order): either is Prometheus text.
  check('ops: /metrics with an admin token → 200 Prometheus text; 403 insufficient_scope to alice', metrics.status === 200 && /^text\/plain;(.*;)? ?version=0\.0\.4/.test(metrics.headers.get('content-type') ?? '') && asAlice.status === 403 && asAlice.body?.code === 'insufficient_scope', { metrics: metrics.status, contentType: metrics.headers.get('content-type'), alice: asAlice });

  const revoked = await http(base, 'POST', '/admin/incident/revoke-before', { token: admin, body: { reason: 'package test' } });
  const before = await http(base, 'GET', '/me', { token: aliceToken });
  const again = await http(base, 'POST', '/login', { body: { username: 'alice', password: 'alice-password' } });
  const after = await http(base, 'GET', '/me', { token: again.body?.access_token });
  check("ops: an admin's revoke-before → 200; alice's earlier token 401 token_revoked; a new login works", revoked.status === 200 && before.status === 401 && before.body?.code === 'token_revoked' && after.status === 200, { revoked, before, after });

  const errors = [];
  let loaded = false;
  const chromium = process.env.CHROMIUM ?? '/usr/bin/chromium';
  if (existsSync(chromium)) {
    const { chromium: launcher } = await import('playwright-core');
    const browser = await launcher.launch({ executablePath: chromium, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'] });
    try {
      const page = await browser.newPage();
      page.on('console', (message) => message.type() === 'error' && errors.push(message.text()));
      page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
      await page.goto(`${base}/admin/dashboard`);
      await page.waitForSelector('#login-form');
      await page.waitForSelector('#store-badge:has-text("store: ok")');
      loaded = true;
    } catch (error) {
      errors.push(String(error.message ?? error));
    } finally {
      await browser.close();
    }
  } else errors.push(`no Chromium at ${chromium} (CHROMIUM names another)`);
  check('ops: the dashboard page loads in headless Chromium with no console error', loaded && errors.length === 0, errors);
  return checks;
}

/** Starts `node dist/main.js` with the adapter, waits for its URL, probes it, stops it. */
async function bootAndProbe(app, adapter) {
  const child = spawn(process.execPath, [app.mainJs], {
    cwd: app.dir,
    env: { ...process.env, HTTP_ADAPTER: adapter, ALICE_PASSWORD: 'alice-password', NODE_ENV: 'production' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const onData = (chunk) => {
    output += chunk;
    writeFileSync(app.logFile, chunk, { flag: 'a' });
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  try {
    const base = await new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error(`no PROBE_LISTENING within 30 s\n${tail(output, 30)}`)), 30_000);
      const watch = () => {
        const match = output.match(/PROBE_LISTENING (\S+)/);
        if (match) {
          clearTimeout(timer);
          resolvePromise(match[1].replace('[::1]', '127.0.0.1'));
        }
      };
      child.stdout.on('data', watch);
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the app exited (${code}) before listening\n${tail(output, 30)}`));
      });
    });
    return await probe(base, adapter);
  } finally {
    child.kill('SIGTERM');
  }
}

// ---------------------------------------------------------------- one app

async function testApp(app, scratch, tarball, redisUrl, oidc) {
  app.dir = join(scratch, app.name);
  app.logFile = join(scratch, `${app.name}.log`);
  app.result = { app: app.name, steps: [], checks: [] };
  const step = async (name, action) => {
    const t0 = Date.now();
    try {
      const value = await action();
      app.result.steps.push({ name, ok: true, ms: Date.now() - t0 });
      log(app.name, `${name} (${((Date.now() - t0) / 1000).toFixed(0)} s)`);
      return value;
    } catch (error) {
      app.result.steps.push({ name, ok: false, ms: Date.now() - t0, error: String(error.message ?? error) });
      throw error;
    }
  };

  try {
    // As a user runs it: Nest 12 sets up Nest Observe by default (its main.ts imports from app.module).
    const cliArgs = ['-y', `@nestjs/cli@${app.cli}`, 'new', app.name, '--skip-git', '--skip-install', '--package-manager', 'npm'];
    await step(`npx @nestjs/cli@${app.cli} new`, () => run(app, 'npx', cliArgs, { cwd: scratch }));

    await step('adapt: README quick start, its main.ts and the operations module, skipLibCheck false', async () => {
      const pkgPath = join(app.dir, 'package.json');
      const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
      if (app.module === 'cjs') delete pkg.type;
      if ((pkg.type === 'module') !== (app.module === 'esm')) throw new Error(`expected a ${app.module} app, nest new made type=${pkg.type}`);
      writeFileSync(pkgPath, `${JSON.stringify(pkg, null, 2)}\n`);
      const tsconfigPath = join(app.dir, 'tsconfig.json');
      // The generated tsconfig.json is plain JSON (no comments): turn library checking on, to type-check our .d.ts.
      const tsconfig = JSON.parse(readFileSync(tsconfigPath, 'utf8'));
      tsconfig.compilerOptions.skipLibCheck = false;
      writeFileSync(tsconfigPath, `${JSON.stringify(tsconfig, null, 2)}\n`);
      writeFileSync(join(app.dir, 'src/app.module.ts'), quickStart());
      writeFileSync(join(app.dir, 'src/main.ts'), readmeSnippet('quick-start-main'));
      writeFileSync(join(app.dir, 'src/ops.module.ts'), readmeSnippet('ops-quick-start'));
      // The generated controller/service/spec belong to the replaced AppModule.
      for (const file of ['src/app.controller.ts', 'src/app.service.ts', 'src/app.controller.spec.ts', 'test/app.e2e-spec.ts']) rmSync(join(app.dir, file), { force: true });
      if (app.redis && redisUrl) writeFileSync(join(app.dir, 'src/redis-check.ts'), REDIS_CHECK);
      writeFileSync(join(app.dir, 'src/store-check.ts'), STORE_CHECK);
      for (const [file, source] of Object.entries(checkSources(app))) writeFileSync(join(app.dir, file), source);
      copyFileSync(join(scratch, 'es256.pem'), join(app.dir, 'es256.pem'));
    });

    await step(`npm install <tarball>${app.extra.length ? ` ${app.extra.join(' ')}` : ''}`, () =>
      run(app, 'npm', ['install', '--no-audit', '--no-fund', tarball, ...app.extra], { cwd: app.dir }),
    );
    const version = (name) => JSON.parse(readFileSync(join(app.dir, 'node_modules', name, 'package.json'), 'utf8')).version;
    app.result.versions = { nest: version('@nestjs/core'), typescript: version('typescript'), throttler: version('@nestjs/throttler'), schedule: version('@nestjs/schedule') };
    log(app.name, `@nestjs/core ${app.result.versions.nest}, typescript ${app.result.versions.typescript}, @nestjs/throttler ${app.result.versions.throttler}, @nestjs/schedule ${app.result.versions.schedule} (peers installed by npm)`);
    const [major, minor] = app.result.versions.typescript.split('.').map(Number);
    if (app.module === 'cjs' && (major < 5 || (major === 5 && minor < 8))) throw new Error(`TypeScript ${app.result.versions.typescript} < 5.8 cannot compile require() of an ES module`);
    if (!app.fastify && (existsSync(join(app.dir, 'node_modules/fastify')) || existsSync(join(app.dir, 'node_modules/ioredis')))) {
      throw new Error('the Express-only app has fastify or ioredis installed: its type check would prove nothing');
    }

    // The quick start as the README gives it (app.module.ts and main.ts), in the app nest new made, compiles.
    await step('nest build: the README quick start and its main.ts, verbatim', () => run(app, 'npx', ['nest', 'build'], { cwd: app.dir }));
    writeFileSync(join(app.dir, 'src/probe.module.ts'), PROBE_MODULE);
    writeFileSync(join(app.dir, 'src/main.ts'), mainFile(app));
    await step('nest build (skipLibCheck: false)', () => run(app, 'npx', ['nest', 'build'], { cwd: app.dir }));
    app.mainJs = ['dist/main.js', 'dist/src/main.js'].map((path) => join(app.dir, path)).find((path) => existsSync(path));
    if (!app.mainJs) throw new Error('nest build wrote no dist/main.js');

    for (const adapter of app.fastify ? ['express', 'fastify'] : ['express']) {
      const checks = await step(`boot and probe over ${adapter}`, () => bootAndProbe(app, adapter));
      for (const result of checks) app.result.checks.push({ ...result, name: `${adapter}: ${result.name}` });
    }

    const storeOutput = await step('@jwt-defense/core/store and JwtDefenseErrors from the package', () =>
      run(app, process.execPath, [app.mainJs.replace(/main\.js$/, 'store-check.js')], { cwd: app.dir, timeoutMs: 30_000 }),
    );
    const storeReport = JSON.parse(storeOutput.match(/STORE_CHECK (.*)/)?.[1] ?? 'null');
    app.result.checks.push({
      name: "store: { type: 'custom', store: new MemoryDefenseStore() } from /store serves the module; verify throws JwtDefenseErrors.TokenVerificationError",
      ok: storeReport?.kind === 'memory' && storeReport?.revoked === true && ['signature_invalid', 'token_malformed'].includes(storeReport?.refused),
      detail: storeReport,
    });

    if (app.redis && redisUrl) {
      const output = await step('Redis store and RedisThrottlerStorage from the package', () =>
        run(app, process.execPath, [app.mainJs.replace(/main\.js$/, 'redis-check.js')], { cwd: app.dir, env: { REDIS_URL: redisUrl }, timeoutMs: 30_000 }),
      );
      const report = JSON.parse(output.match(/REDIS_CHECK (.*)/)?.[1] ?? 'null');
      app.result.checks.push({
        name: "redis: store { type: 'redis' } loaded lazily, a revocation round trip, the throttler storage's first hit",
        ok: report?.before === false && report?.after === true && report?.totalHits === 1,
        detail: report,
      });
    }

    app.result.checks.push(...(await runDefenseChecks(app, { run, step, oidc, redisUrl })));
  } catch (error) {
    app.result.error = String(error.message ?? error);
    log(app.name, `FAILED: ${app.result.error.split('\n')[0]}`);
  }
  return app.result;
}

// ---------------------------------------------------------------- main

async function startRedis(scratch) {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', scratch], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    try {
      execFileSync('redis-cli', ['-p', String(port), 'ping'], { stdio: 'ignore' });
      return { url: `redis://127.0.0.1:${port}`, stop: () => child.kill('SIGTERM') };
    } catch {
      await new Promise((resolvePromise) => setTimeout(resolvePromise, 100));
    }
  }
  child.kill('SIGKILL');
  return undefined;
}

const scratch = mkdtempSync(join(tmpdir(), 'jwtd-package-'));
console.log(`test:package: scratch apps in ${scratch} (outside the repository)`);
let redis;
let oidc;
let results = [];
try {
  const packOutput = execFileSync(process.execPath, [join(root, 'scripts/pack-lib.mjs')], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  process.stdout.write(packOutput);
  const tarball = packOutput.trim().split('\n').pop();
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', join(scratch, 'es256.pem')], { stdio: 'ignore' });
  redis = APPS.some((app) => app.redis) ? await startRedis(scratch) : undefined;
  if (APPS.some((app) => app.redis) && !redis) console.log('test:package: no redis-server here: the Redis check is skipped');
  oidc = await startOidcProvider(scratch);
  results = await Promise.all(APPS.map((app) => testApp(app, scratch, tarball, redis?.url, oidc)));
} finally {
  redis?.stop();
  await oidc?.stop();
}

// Summary.
console.log('\ntest:package summary');
let passed = 0;
let failed = 0;
for (const result of results) {
  const versions = result.versions ? ` (Nest ${result.versions.nest}, TypeScript ${result.versions.typescript})` : '';
  console.log(`\n${result.app}${versions}`);
  for (const stepResult of result.steps) console.log(`  ${stepResult.ok ? 'ok  ' : 'FAIL'} ${stepResult.name}`);
  for (const check of result.checks) {
    console.log(`  ${check.ok ? 'ok  ' : 'FAIL'} ${check.name}${check.ok ? '' : `: ${JSON.stringify(check.detail)?.slice(0, 400)}`}`);
    if (check.ok) passed++;
    else failed++;
  }
  if (result.error) {
    failed++;
    console.log(`  FAIL ${result.error.split('\n').slice(0, 45).join('\n       ')}`);
    console.log(`       (log: ${join(scratch, `${result.app}.log`)}${keep ? '' : ', removed; --keep keeps it'})`);
  }
}
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ passed, failed, results }, null, 2));
if (!keep) rmSync(scratch, { recursive: true, force: true });
console.log(`\ntest:package: ${APPS.length} apps in ${elapsed()}`);
console.log(`package: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && results.length === APPS.length ? 0 : 1);

// Checks of #22 that test:package (scripts/test-package.mjs) runs in each generated app, on what a user's own app
// does that the demo does not: one script, src/defense-checks.ts, compiled by the app's `nest build` with the rest and
// run with node after it; it prints one `DEFENSE_CHECKS <json>` line of what it saw, which `checksOf` judges here.
//
//   item 4  a handler that calls RefreshTokenService.refresh() and catches nothing: garbage → 401 token_malformed, a
//           reused token → 401 token_revoked, with the Bearer challenge (over HTTP, Express and Fastify where installed)
//   item 5  @Throttle({ short }) on a route, and ThrottlerModule.forRoot([{ name: 'short' }]) with no ThrottlerGuard:
//           the boot is refused, naming "short"
//   item 6  globalGuard: false and a @DefensePolicy({ throttle }) route no JwtDefenseGuard covers: a boot warning
//           names Controller.method
//   item 2  a provider-only app (issuers only, no token) against a real OpenID provider (the repository's harness,
//           test/support/oidc-provider.ts, started once): 200 with its access token, 401 without; issue() names token.keys
//   item 7  (the app with Redis) the installed bin: `revoke-user m2m --issuer <not configured>` exits 2 naming it and
//           the issuers an app declared on that prefix; a bare `revoke-user m2m` says "a local user"
//   item 8  src/item8-checks.ts: a PEM as an HMAC secret, globalGuard inside a forRootAsync factory, an unreachable
//           Redis URL with a password (its host:port named, never the password)
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const AUDIENCE = 'https://package-test.example';
const UNCONFIGURED_ISSUER = 'https://not-configured.example';
const REDIS_PASSWORD = 'pw-0f9e8d7c';

// ---------------------------------------------------------------- the OpenID provider

/**
 * The repository's OpenID provider harness (test/support/oidc-provider.ts: oidc-provider over HTTPS with a throwaway CA,
 * in a child process), transpiled as is into the scratch dir. Its child script runs from the repository, where
 * oidc-provider is installed.
 */
export async function startOidcProvider(scratch) {
  const { default: ts } = await import('typescript');
  const dir = join(scratch, 'oidc-harness');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n');
  for (const name of ['oidc-provider', 'jws']) {
    const source = readFileSync(join(root, 'test/support', `${name}.ts`), 'utf8');
    const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } });
    writeFileSync(join(dir, `${name}.js`), outputText);
  }
  const { OidcProvider } = await import(pathToFileURL(join(dir, 'oidc-provider.js')).href);
  // Outside Jest the harness finds its child script in test/support from the working directory.
  process.chdir(root);
  const op = await OidcProvider.start({ audience: AUDIENCE, clientId: 'package-test', clientSecret: 'package-test-secret-0123456789abcdef', algorithms: ['ES256'] });
  return op;
}

// ---------------------------------------------------------------- the check script

/** Files to write into the app before its build: `src/defense-checks.ts` (and item 8's when ready). */
export function checkSources(app) {
  const files = { 'src/defense-checks.ts': defenseChecks(app) };
  files['src/item8-checks.ts'] = item8Checks(app);
  return files;
}

const prelude = (app) => `import { Body, Controller, Get, HttpCode, Module, Post, type INestApplication, type LoggerService, type Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
${app.fastify ? "import { FastifyAdapter } from '@nestjs/platform-fastify';\n" : ''}import { readFileSync } from 'node:fs';

const ADAPTERS = ${JSON.stringify(app.fastify ? ['express', 'fastify'] : ['express'])};
const ownToken = (issuer: string) => ({ issuer, audience: 'checks', keys: [{ kid: 'k1', algorithms: ['ES256' as const], privateKey: readFileSync('es256.pem') }] });
const messageOf = (error: unknown): string => String((error as Error)?.message ?? error);

async function create(module: Type<unknown>, adapter: string, logger: LoggerService | false = false): Promise<INestApplication> {
  ${app.fastify ? "if (adapter === 'fastify') return NestFactory.create(module, new FastifyAdapter(), { logger, abortOnError: false });\n  " : ''}return NestFactory.create(module, { logger, abortOnError: false });
}

async function listen(module: Type<unknown>, adapter: string): Promise<{ app: INestApplication; base: string }> {
  const app = await create(module, adapter);
  await app.listen(0, '127.0.0.1');
  return { app, base: (await app.getUrl()).replace('[::1]', '127.0.0.1') };
}

/** A logger that keeps the warnings and errors in \`lines\`. */
const capturing = (lines: string[]): LoggerService => ({ log() {}, warn: (message: unknown) => void lines.push(String(message)), error: (message: unknown) => void lines.push(String(message)) });

/** The boot's error message, or null when it booted. */
async function bootError(module: Type<unknown>, logger: LoggerService | false = false): Promise<string | null> {
  try {
    const app = await create(module, 'express', logger);
    await app.init();
    await app.close();
    return null;
  } catch (error) {
    return messageOf(error);
  }
}

/** What the client gets: status, code, the challenge, and whether the body echoes \`sent\`. */
async function call(base: string, path: string, init: { body?: unknown; token?: string; sent?: string } = {}) {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (init.token) headers.authorization = \`Bearer \${init.token}\`;
  const res = await fetch(base + path, init.body === undefined ? { headers } : { method: 'POST', headers, body: JSON.stringify(init.body) });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON
  }
  return { status: res.status, code: json.code, body: json, challenge: res.headers.get('www-authenticate'), echoed: init.sent ? text.includes(init.sent) : false };
}

/** Runs each part; a part that throws is reported as its error, the others still run. */
async function report(tag: string, parts: Record<string, () => Promise<unknown>>): Promise<void> {
  const seen: Record<string, unknown> = {};
  for (const [name, part] of Object.entries(parts)) {
    try {
      seen[name] = await part();
    } catch (error) {
      seen[name] = { error: messageOf(error) };
    }
  }
  console.log(tag + ' ' + JSON.stringify(seen));
  // A refused boot may leave a timer behind: the report is out, stop here.
  process.exit(0);
}
`;

const defenseChecks = (app) => `${prelude(app)}
import { execFile } from 'node:child_process';
import { Throttle, ThrottlerModule } from '@nestjs/throttler';
import { CurrentPrincipal, DefensePolicy, JwtDefenseModule, Public, RefreshTokenService, TokenService, type AccessTokenPrincipal } from '@jwt-defense/core';

// item 4: the app's own refresh handler, with no catch block.
@Public()
@Controller('own')
class OwnRefreshController {
  constructor(private readonly refreshTokens: RefreshTokenService) {}
  @HttpCode(200) @Post('login') async login() { return { refresh_token: (await this.refreshTokens.issuePair('alice')).refreshToken }; }
  @HttpCode(200) @Post('refresh') async refresh(@Body() body: { refresh_token: string }) { return { refresh_token: (await this.refreshTokens.refresh(body.refresh_token)).refreshToken }; }
}
@Module({ imports: [JwtDefenseModule.forRoot({ token: ownToken('refresh-check') })], controllers: [OwnRefreshController] })
class RefreshModule {}

async function refreshErrors(adapter: string) {
  const { app, base } = await listen(RefreshModule, adapter);
  try {
    const garbage = await call(base, '/own/refresh', { body: { refresh_token: 'not-a-refresh-token' }, sent: 'not-a-refresh-token' });
    const first = (await call(base, '/own/login', { body: {} })).body.refresh_token as string;
    const rotated = await call(base, '/own/refresh', { body: { refresh_token: first } });
    const reused = await call(base, '/own/refresh', { body: { refresh_token: first }, sent: first });
    return { garbage, rotated: rotated.status, reused };
  } finally {
    await app.close();
  }
}

// item 5: a throttler name jwt-defense does not count.
@Public()
@Controller('named')
class NamedThrottleController {
  @Throttle({ short: { limit: 3, ttl: 1000 } }) @Get() named() { return { ok: true }; }
}
@Module({ imports: [JwtDefenseModule.forRoot({ token: ownToken('throttle-check') })], controllers: [NamedThrottleController] })
class NamedThrottleModule {}

@Public()
@Controller('plain')
class PlainController {
  @Get() plain() { return { ok: true }; }
}
@Module({ imports: [JwtDefenseModule.forRoot({ token: ownToken('throttle-check') }), ThrottlerModule.forRoot([{ name: 'short', ttl: 1000, limit: 3 }])], controllers: [PlainController] })
class OwnThrottlerModule {}

// item 6: route-by-route rollout, a login no JwtDefenseGuard covers.
@Public()
@Controller('auth')
class UnguardedLoginController {
  @DefensePolicy({ throttle: { ip: { limit: 2, ttlMs: 60_000 } } }) @HttpCode(200) @Post('login') login() { return { ok: true }; }
}
@Module({ imports: [JwtDefenseModule.forRoot({ token: ownToken('rollout-check'), globalGuard: false })], controllers: [UnguardedLoginController] })
class RolloutModule {}

async function unguardedWarnings() {
  const logs: string[] = [];
  return { error: await bootError(RolloutModule, capturing(logs)), logs };
}

// item 2: an API that accepts only its OpenID provider's tokens.
@Controller('whoami')
class WhoamiController {
  @Get() whoami(@CurrentPrincipal() principal: AccessTokenPrincipal) { return { sub: principal.sub, issuer: principal.issuer }; }
}
const provider = () => ({ issuer: process.env.OIDC_ISSUER!, audience: process.env.OIDC_AUDIENCE!, ca: readFileSync(process.env.OIDC_CA_FILE!, 'utf8') });
@Module({ imports: [JwtDefenseModule.forRoot({ issuers: [provider()] })], controllers: [WhoamiController] })
class ProviderOnlyModule {}

async function providerOnly(adapter: string) {
  const { app, base } = await listen(ProviderOnlyModule, adapter);
  try {
    const withToken = await call(base, '/whoami', { token: process.env.OIDC_TOKEN });
    const without = await call(base, '/whoami');
    const issue = await app.get(TokenService).issue('alice').then(() => 'issued', messageOf);
    return { withToken: { status: withToken.status, body: withToken.body }, without: { status: without.status, code: without.code }, issue };
  } finally {
    await app.close();
  }
}

// item 7: the installed CLI, after an app declared its issuers on the Redis prefix.
async function cli() {
  const url = process.env.REDIS_URL!;
  const prefix = 'pkgcli:';
  @Module({ imports: [JwtDefenseModule.forRoot({ token: ownToken('cli-check'), issuers: [provider()], store: { type: 'redis', connection: url, keyPrefix: prefix } })] })
  class DeclaringModule {}
  const app = await NestFactory.createApplicationContext(DeclaringModule, { logger: false, abortOnError: false });
  await app.close();
  const bin = (...args: string[]) =>
    new Promise<{ code: number; out: string; err: string }>((resolve) => {
      execFile('node_modules/.bin/jwt-defense', ['--redis', url, '--prefix', prefix, ...args], { timeout: 20_000 }, (error, out, err) =>
        resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, out, err }),
      );
    });
  return {
    unconfigured: await bin('revoke-user', 'm2m', '--issuer', '${UNCONFIGURED_ISSUER}', '--reason', 'package test'),
    bare: await bin('revoke-user', 'm2m', '--reason', 'package test'),
    external: await bin('revoke-user', 'm2m', '--issuer', process.env.OIDC_ISSUER!, '--reason', 'package test'),
  };
}

const parts: Record<string, () => Promise<unknown>> = {
  namedThrottle: () => bootError(NamedThrottleModule),
  ownThrottler: () => bootError(OwnThrottlerModule),
  unguarded: unguardedWarnings,
};
for (const adapter of ADAPTERS) {
  parts[\`refresh_\${adapter}\`] = () => refreshErrors(adapter);
  parts[\`providerOnly_\${adapter}\`] = () => providerOnly(adapter);
}
if (process.env.REDIS_URL) parts.cli = cli;
void report('DEFENSE_CHECKS', parts);
`;

const item8Checks = (app) => `${prelude(app)}
import { createPublicKey } from 'node:crypto';
import { createServer } from 'node:net';
import { JwtDefenseModule } from '@jwt-defense/core';

// A PEM public key given as an HMAC secret (anyone with the public key could mint tokens).
const publicPem = createPublicKey(readFileSync('es256.pem')).export({ type: 'spki', format: 'pem' }).toString();
@Module({ imports: [JwtDefenseModule.forRoot({ token: { issuer: 'pem-check', audience: 'checks', keys: [{ kid: 'k1', algorithms: ['HS256'], secret: publicPem }] } })] })
class PemSecretModule {}

// A registration switch returned by the forRootAsync factory, where it does nothing.
const fromFactory = { token: ownToken('async-check'), globalGuard: false };
@Module({ imports: [JwtDefenseModule.forRootAsync({ useFactory: () => fromFactory })] })
class SwitchInFactoryModule {}

/** A loopback port nothing listens on. */
const closedPort = () =>
  new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

async function unreachableRedis() {
  const port = await closedPort();
  @Module({ imports: [JwtDefenseModule.forRoot({ token: ownToken('redis-url-check'), store: { type: 'redis', connection: \`redis://:${REDIS_PASSWORD}@127.0.0.1:\${port}\` } })] })
  class UnreachableRedisModule {}
  // Said at boot: as its error, or logged.
  const logs: string[] = [];
  return { port, error: await bootError(UnreachableRedisModule, capturing(logs)), logs };
}

const parts: Record<string, () => Promise<unknown>> = {
  pemSecret: () => bootError(PemSecretModule),
  switchInFactory: () => bootError(SwitchInFactoryModule),
};
if (process.env.REDIS_URL) parts.unreachableRedis = unreachableRedis;
void report('ITEM8_CHECKS', parts);
`;

// ---------------------------------------------------------------- running and judging

/**
 * Runs the check scripts built into `app` (after its `nest build`), with `run` and `step` of test-package.mjs, and
 * returns their checks. `oidc`: the provider from {@link startOidcProvider}; `redisUrl` for the app that has Redis.
 */
export async function runDefenseChecks(app, { run, step, oidc, redisUrl }) {
  const env = { OIDC_ISSUER: oidc.issuer, OIDC_AUDIENCE: AUDIENCE, OIDC_CA_FILE: oidc.caFile, OIDC_TOKEN: (await oidc.clientCredentialsToken()).access_token };
  if (app.redis && redisUrl) env.REDIS_URL = redisUrl;
  const script = (name) => app.mainJs.replace(/main\.js$/, `${name}.js`);
  const reportOf = async (name, tag) => {
    const output = await step(name === 'defense-checks' ? `#22 items 2, 4, 5, 6${env.REDIS_URL ? ', 7' : ''} in the app` : '#22 item 8 in the app', () =>
      run(app, process.execPath, [script(name)], { cwd: app.dir, env, timeoutMs: 60_000 }),
    );
    return JSON.parse(output.match(new RegExp(`${tag} (.*)`))?.[1] ?? 'null') ?? {};
  };
  const checks = checksOf(await reportOf('defense-checks', 'DEFENSE_CHECKS'), app, env);
  checks.push(...item8ChecksOf(await reportOf('item8-checks', 'ITEM8_CHECKS'), env));
  return checks;
}

const CHALLENGE = /^Bearer realm="[^"]+", error="invalid_token"$/;
const refused = (answer, code) => answer?.status === 401 && answer.code === code && CHALLENGE.test(answer.challenge ?? '') && !answer.echoed;

/** The checks of a `DEFENSE_CHECKS` report. */
export function checksOf(report, app, env) {
  const checks = [];
  const check = (name, ok, detail) => checks.push({ name, ok: Boolean(ok), detail: ok ? undefined : detail });
  for (const adapter of app.fastify ? ['express', 'fastify'] : ['express']) {
    const refresh = report[`refresh_${adapter}`];
    check(
      `item 4, ${adapter}: refresh() in a handler with no catch: garbage → 401 token_malformed, a reused token → 401 token_revoked, with the Bearer challenge`,
      refreshed(refresh),
      refresh,
    );
    const only = report[`providerOnly_${adapter}`];
    check(
      `item 2, ${adapter}: provider-only (issuers, no token) against a real OpenID provider: 200 with its access token, 401 token_missing without; issue() names token.keys`,
      only?.withToken?.status === 200 && only.withToken.body?.sub === 'package-test' && only.without?.status === 401 && only.without.code === 'token_missing' && /token\.keys/.test(only.issue ?? ''),
      only,
    );
  }
  check('item 5: @Throttle({ short }) on a route refuses the boot, naming "short"', /@Throttle of NamedThrottleController\.named names the throttler "short"/.test(report.namedThrottle ?? ''), report.namedThrottle);
  check(
    "item 5: ThrottlerModule.forRoot([{ name: 'short' }]) with no ThrottlerGuard refuses the boot, naming it",
    /ThrottlerModule's throttler "short" limits nothing/.test(report.ownThrottler ?? '') && /ThrottlerGuard/.test(report.ownThrottler ?? ''),
    report.ownThrottler,
  );
  const warning = report.unguarded?.logs?.find((line) => line.includes('no JwtDefenseGuard runs on it'));
  check(
    'item 6: globalGuard: false, a @DefensePolicy({ throttle }) route no JwtDefenseGuard covers: a boot warning names UnguardedLoginController.login',
    report.unguarded?.error === null && warning?.startsWith('UnguardedLoginController.login (POST /auth/login)') && warning.includes('@DefensePolicy({ throttle })'),
    report.unguarded,
  );
  if (env.REDIS_URL) {
    const { unconfigured, bare, external } = report.cli ?? {};
    check(
      `item 7: the installed bin: revoke-user m2m --issuer ${UNCONFIGURED_ISSUER} exits 2 naming it and the issuers the app declared`,
      unconfigured?.code === 2 && unconfigured.out === '' && [UNCONFIGURED_ISSUER, 'cli-check', env.OIDC_ISSUER].every((named) => unconfigured.err.includes(named)),
      report.cli,
    );
    check('item 7: the installed bin: a bare revoke-user m2m says "a local user"', bare?.code === 0 && /^revoked every token of m2m, a local user of cli-check /.test(bare.out), report.cli);
    check(
      "item 7: the installed bin: revoke-user m2m --issuer <the app's external issuer> revokes that issuer's m2m",
      external?.code === 0 && external.out.startsWith(`revoked every token of m2m of ${env.OIDC_ISSUER} `),
      report.cli,
    );
  }
  return checks;
}

const refreshed = (refresh) => refresh?.rotated === 200 && refused(refresh.garbage, 'token_malformed') && refused(refresh.reused, 'token_revoked');

/** The checks of an `ITEM8_CHECKS` report. */
export function item8ChecksOf(report, env) {
  const checks = [];
  const check = (name, ok, detail) => checks.push({ name, ok: Boolean(ok), detail: ok ? undefined : detail });
  check('item 8: a PEM public key as token.keys[0].secret refuses the boot, naming token.keys[0].secret', /token\.keys\[0\]\.secret/.test(report.pemSecret ?? ''), report.pemSecret);
  check('item 8: globalGuard returned by a forRootAsync factory refuses the boot: "beside useFactory"', /beside useFactory/.test(report.switchInFactory ?? ''), report.switchInFactory);
  if (env.REDIS_URL) {
    const { port, error, logs = [] } = report.unreachableRedis ?? {};
    const said = [error ?? '', ...logs];
    check(
      'item 8: an unreachable redis://:<password>@127.0.0.1:<closed port>: the boot names 127.0.0.1:<port>, never the password',
      port > 0 && said.some((text) => text.includes(`127.0.0.1:${port}`)) && !said.some((text) => text.includes(REDIS_PASSWORD)),
      report.unreachableRedis,
    );
  }
  return checks;
}

// `npm run bench [-- --quick] [-- --out DIR] [-- --only a,b] [-- --profile DIR]`: every variant, side by side, on this machine, in one run.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { cpus, totalmem, tmpdir } from 'node:os';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { TokenService } from '@jwt-defense/core';
import { DefenseClock } from '../libs/jwt-defense/src/common/defense-clock.js';
import { resolveJwtDefenseOptions } from '../libs/jwt-defense/src/jwt-defense.options.js';
import { loadDemoConfig } from '../apps/demo/src/demo.config.js';
import { loadDemoKeys } from '../apps/demo/src/demo.keys.js';
import { RedisServer } from '../test/support/redis-server.js';
import { memoryPerUser, runMicro, type MicroResult } from './micro.js';
import { renderReport, type BenchResult, type BenchRun } from './report.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../../..'); // dist/bench/bench → the repository
const ISSUER = 'jwt-defense-demo';

interface Variant {
  name: string;
  /** `defended`: the module on the limit app's route (every layer on, its Prometheus sink); `demo`: the whole demo app. */
  variant: 'none' | 'floor' | 'limit' | 'bare' | 'recipe' | 'defended' | 'demo';
  adapter: 'express' | 'fastify';
  alg: 'HS256' | 'ES256';
  redis?: boolean;
  cache?: 'on' | 'off';
  /** Layers 3 and 4 (context risk, anomaly): on (enforce, the demo's default) unless `off`. */
  riskAnomaly?: 'off';
  /** DPoP-bound tokens (`cnf.jkt`), each request with `Authorization: DPoP` and a fresh ES256 proof. */
  dpop?: true;
}

function args() {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  const value = (flag: string) => {
    const index = argv.indexOf(flag);
    return index >= 0 ? argv[index + 1] : undefined;
  };
  return {
    quick,
    out: resolve(value('--out') ?? join(ROOT, 'docs')),
    /** `--profile DIR`: each server profiles its measured rounds, written to DIR/<variant>/server.cpuprofile. */
    profile: value('--profile') === undefined ? undefined : resolve(value('--profile')!),
    rounds: Number(value('--rounds') ?? (quick ? 1 : 3)),
    durationSec: Number(value('--duration') ?? (quick ? 2 : 10)),
    warmupSec: quick ? 1 : 5,
    connections: Number(value('--connections') ?? 50),
    users: quick ? 100 : 1000,
  };
}

const FULL: Variant[] = [
  { name: 'none', variant: 'none', adapter: 'express', alg: 'HS256' },
  { name: 'floor', variant: 'floor', adapter: 'express', alg: 'HS256' },
  { name: 'limit', variant: 'limit', adapter: 'express', alg: 'HS256' },
  { name: 'bare HS256', variant: 'bare', adapter: 'express', alg: 'HS256' },
  { name: 'recipe HS256 (redis)', variant: 'recipe', adapter: 'express', alg: 'HS256', redis: true },
  { name: 'defended-memory HS256', variant: 'defended', adapter: 'express', alg: 'HS256' },
  { name: 'defended-memory HS256 without layers 3-4', variant: 'defended', adapter: 'express', alg: 'HS256', riskAnomaly: 'off' },
  { name: 'defended-redis HS256', variant: 'defended', adapter: 'express', alg: 'HS256', redis: true },
  { name: 'defended-redis HS256 without layers 3-4', variant: 'defended', adapter: 'express', alg: 'HS256', redis: true, riskAnomaly: 'off' },
  { name: 'defended-memory HS256 DPoP', variant: 'defended', adapter: 'express', alg: 'HS256', dpop: true },
  { name: 'defended-redis HS256 DPoP', variant: 'defended', adapter: 'express', alg: 'HS256', redis: true, dpop: true },
  { name: 'bare ES256', variant: 'bare', adapter: 'express', alg: 'ES256' },
  { name: 'recipe ES256 (redis)', variant: 'recipe', adapter: 'express', alg: 'ES256', redis: true },
  { name: 'defended-memory ES256', variant: 'defended', adapter: 'express', alg: 'ES256', cache: 'on' },
  { name: 'defended-memory ES256 no cache', variant: 'defended', adapter: 'express', alg: 'ES256', cache: 'off' },
  { name: 'defended-redis ES256', variant: 'defended', adapter: 'express', alg: 'ES256', redis: true, cache: 'on' },
  { name: 'demo-memory HS256', variant: 'demo', adapter: 'express', alg: 'HS256' },
  { name: 'demo-redis HS256', variant: 'demo', adapter: 'express', alg: 'HS256', redis: true },
  { name: 'fastify none', variant: 'none', adapter: 'fastify', alg: 'HS256' },
  { name: 'fastify floor', variant: 'floor', adapter: 'fastify', alg: 'HS256' },
  { name: 'fastify limit', variant: 'limit', adapter: 'fastify', alg: 'HS256' },
  { name: 'fastify defended-memory HS256', variant: 'defended', adapter: 'fastify', alg: 'HS256' },
  { name: 'fastify defended-memory HS256 without layers 3-4', variant: 'defended', adapter: 'fastify', alg: 'HS256', riskAnomaly: 'off' },
  { name: 'fastify defended-redis HS256', variant: 'defended', adapter: 'fastify', alg: 'HS256', redis: true },
  { name: 'fastify defended-memory HS256 DPoP', variant: 'defended', adapter: 'fastify', alg: 'HS256', dpop: true },
  { name: 'fastify defended-memory ES256', variant: 'defended', adapter: 'fastify', alg: 'ES256' },
  { name: 'fastify demo-memory HS256', variant: 'demo', adapter: 'fastify', alg: 'HS256' },
];
const QUICK = FULL.filter((variant) =>
  ['none', 'floor', 'limit', 'bare HS256', 'defended-memory HS256', 'defended-redis HS256', 'defended-redis HS256 DPoP', 'fastify limit', 'fastify defended-memory HS256'].includes(variant.name),
);
/** On Fastify one load-generator core saturates before the server: its CPU per request is measured at this offered load. */
const FIXED_RATE = 5000;

const hasTaskset = (() => {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return cpus().length >= 2;
  } catch {
    return false;
  }
})();

/**
 * Starts one variant's server (on core 0 when pinned). With `profileDir`, it profiles the measured rounds (from SIGUSR2,
 * sent after the warm-up) and writes DIR/<variant>/server.cpuprofile as it exits: summarise it with
 * `node bench/profile.mjs <file>`, in µs per request answered in the rounds.
 */
const profileDirOf = (profileDir: string, variant: Variant) => join(profileDir, variant.name.replace(/[^A-Za-z0-9-]+/g, '-'));

function startServer(variant: Variant, env: Record<string, string>, profileDir?: string): Promise<{ child: ChildProcess; port: number }> {
  const server = join(HERE, 'server.js');
  const node = [server];
  const [command, argv] = hasTaskset ? ['taskset', ['-c', '0', process.execPath, ...node]] : [process.execPath, node];
  const child = spawn(command, argv, {
    env: {
      ...process.env,
      ...env,
      BENCH_VARIANT: variant.variant,
      BENCH_ADAPTER: variant.adapter,
      BENCH_ALG: variant.alg,
      BENCH_CACHE: variant.cache ?? 'on',
      BENCH_RISK_ANOMALY: variant.riskAnomaly ?? 'on',
      ...(profileDir ? { BENCH_PROFILE_FILE: join(profileDirOf(profileDir, variant), 'server.cpuprofile') } : {}),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolvePort, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /LISTENING (\d+)/.exec(output);
      if (match) resolvePort({ child, port: Number(match[1]) });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`${variant.name} exited with ${code}: ${output}`)));
  });
}

function rssMb(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** The process's CPU time (user + system), in µs, from /proc (clock ticks of 10 ms: enough over a run of seconds). */
function cpuMicros(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return NaN;
  }
}

function scriptCalls(redis: RedisServer | undefined): number {
  if (!redis) return 0;
  const info = execFileSync('redis-cli', ['-p', String(redis.port), 'INFO', 'commandstats']).toString();
  // Round trips: scripts (EVALSHA ours, EVAL nest-lab's) plus plain commands sent by clients. Commands run
  // inside scripts are counted by Redis too, so only the script calls and known top-level commands count.
  let calls = 0;
  for (const match of info.matchAll(/^cmdstat_(evalsha|eval|hgetall|xadd|ping):calls=(\d+)/gm)) calls += Number(match[2]);
  return calls;
}

/** Request headers for the next request: a bearer token, or a DPoP-bound token with its fresh proof. */
type NextHeaders = () => Record<string, string>;

function bearerHeaders(tokens: string[]): NextHeaders {
  let next = 0;
  return () => ({ authorization: `Bearer ${tokens[next++ % tokens.length]}` });
}

/** The client side of DPoP (RFC 9449): one ES256 key, to which the pool of DPoP tokens is bound. */
class DpopKey {
  readonly pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  private readonly jwk = this.pair.publicKey.export({ format: 'jwk' });
  readonly publicJwk = { kty: this.jwk.kty, crv: this.jwk.crv, x: this.jwk.x, y: this.jwk.y };
  /** RFC 7638 thumbprint: the `cnf.jkt` the tokens are bound to. */
  readonly jkt = createHash('sha256').update(JSON.stringify({ crv: this.jwk.crv, kty: this.jwk.kty, x: this.jwk.x, y: this.jwk.y })).digest('base64url');
}

/** Requests of one server: each DPoP-bound token with a fresh proof of the key for `GET htu`. */
class DpopClient {
  private readonly header: string;
  private readonly prepared: Array<Record<string, string>> = [];
  private next = 0;

  constructor(private readonly key: DpopKey, private readonly tokens: string[], private readonly htu: string) {
    this.header = Buffer.from(JSON.stringify({ typ: 'dpop+jwt', alg: 'ES256', jwk: key.publicJwk })).toString('base64url');
  }

  private headers(token: string): Record<string, string> {
    const ath = createHash('sha256').update(token).digest('base64url');
    const claims = { jti: randomBytes(12).toString('base64url'), htm: 'GET', htu: this.htu, iat: Math.floor(Date.now() / 1000), ath };
    const input = `${this.header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    const signature = sign('sha256', Buffer.from(input), { key: this.key.pair.privateKey, dsaEncoding: 'ieee-p1363' });
    return { authorization: `DPoP ${token}`, dpop: `${input}.${signature.toString('base64url')}` };
  }

  /**
   * Signs `count` proofs before a round, so that the load generator measures the server, not its own signing
   * (a proof is good for the server's proof window, 60 s by default: prepared just before the round).
   */
  prepare(count: number): void {
    this.prepared.length = 0;
    for (let i = 0; i < count; i++) this.prepared.push(this.headers(this.tokens[(this.next + i) % this.tokens.length]));
  }

  readonly nextHeaders: NextHeaders = () => this.prepared.pop() ?? this.headers(this.tokens[this.next++ % this.tokens.length]);
}

async function load(port: number, nextHeaders: NextHeaders, durationSec: number, connections: number, overallRate?: number) {
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    duration: durationSec,
    ...(overallRate ? { overallRate } : {}),
    requests: [
      {
        method: 'GET',
        path: '/me',
        setupRequest: (request: autocannon.Request) => {
          request.headers = { ...request.headers, ...nextHeaders() };
          return request;
        },
      },
    ],
  });
  return result;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

function writeReport(out: string, data: Parameters<typeof renderReport>[0]): void {
  mkdirSync(out, { recursive: true });
  const { markdown, svg } = renderReport(data);
  writeFileSync(join(out, 'BENCHMARKS.md'), markdown);
  writeFileSync(join(out, 'benchmarks.svg'), svg);
  writeFileSync(join(out, 'benchmarks.json'), `${JSON.stringify(data, null, 2)}\n`);
  process.stdout.write(`wrote ${join(out, 'BENCHMARKS.md')}\n`);
}

async function main(): Promise<void> {
  const options = args();
  const from = process.argv.indexOf('--from');
  if (from >= 0) {
    // Re-render a report from a previous run's data (after editing bench/notes.md), measuring nothing.
    writeReport(options.out, JSON.parse(readFileSync(resolve(process.argv[from + 1]), 'utf8')));
    return;
  }
  if (hasTaskset) execFileSync('taskset', ['-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
  const redis = await RedisServer.start();
  const dir = mkdtempSync(join(tmpdir(), 'jwtd-bench-'));
  const keyFile = join(dir, 'es256.pem');
  writeFileSync(keyFile, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }));
  const secret = randomBytes(32).toString('base64url');
  const env: Record<string, string> = { BENCH_KEY_FILE: keyFile, BENCH_SECRET: secret, BENCH_TOKENS_FILE: join(dir, 'tokens.json') };

  // The same users for every variant, their tokens minted by the library with the demo's own keys (same kid) just
  // before each variant (an access token lives 15 minutes at most, the whole run longer); DPoP-bound tokens are bound
  // to one client key (cnf.jkt), minted with the HS256 demo key.
  const dpopKey = new DpopKey();
  const mint = async (alg: 'HS256' | 'ES256', extra: Record<string, unknown> = {}): Promise<string[]> => {
    const config = loadDemoConfig({ JWT_ALGORITHM: alg, JWT_SECRET: secret, JWT_PRIVATE_KEY_FILE: alg === 'ES256' ? keyFile : undefined });
    const tokens = new TokenService(resolveJwtDefenseOptions({ token: { issuer: ISSUER, audience: ISSUER, keys: loadDemoKeys(config) } }).token, new DefenseClock());
    return Promise.all(Array.from({ length: options.users }, (_, i) => tokens.issue(`user-${i}`, { roles: ['user'], ...extra }, { ttlSec: 900 }).then((issued) => issued.token)));
  };
  const mintPools = async (): Promise<Record<string, string[]>> => {
    const pools: Record<string, string[]> = { HS256: await mint('HS256'), ES256: await mint('ES256'), dpop: await mint('HS256', { cnf: { jkt: dpopKey.jkt } }) };
    writeFileSync(env.BENCH_TOKENS_FILE, JSON.stringify(pools.HS256));
    return pools;
  };

  const only = process.argv.indexOf('--only');
  const names = only >= 0 ? process.argv[only + 1].split(',') : undefined;
  const variants = names ? FULL.filter((variant) => names.includes(variant.name)) : options.quick ? QUICK : FULL;
  const results: BenchResult[] = [];
  for (const variant of variants) {
    let served = 0; // requests answered in the rounds (what the profile covers)
    const pools = await mintPools();
    const { child, port } = await startServer(variant, { ...env, ...(variant.redis ? { BENCH_REDIS_URL: redis.url } : {}) }, options.profile);
    try {
      const dpop = variant.dpop ? new DpopClient(dpopKey, pools.dpop, `http://127.0.0.1:${port}/me`) : undefined;
      const nextHeaders = dpop?.nextHeaders ?? bearerHeaders(pools[variant.alg]);
      // One answer first: the headers and body size every variant's request gets (compared in the report: the limit
      // app must send what the defended app sends, or its ratio compares unlike answers).
      const probe = await fetch(`http://127.0.0.1:${port}/me`, { headers: nextHeaders() });
      const answer = { status: probe.status, headers: [...probe.headers.keys()].sort(), bytes: (await probe.arrayBuffer()).byteLength };
      process.stdout.write(`${variant.name}: ${answer.status} ${answer.bytes}B ${answer.headers.join(' ')}\n`);
      const warmup = await load(port, nextHeaders, options.warmupSec, options.connections);
      if (options.profile) {
        mkdirSync(profileDirOf(options.profile, variant), { recursive: true });
        child.kill('SIGUSR2');
      }
      const runs: BenchRun[] = [];
      for (let round = 0; round < options.rounds; round++) {
        // Proofs for this round, signed in advance: the rate seen so far with a margin (the rest signed inline).
        dpop?.prepare(Math.ceil(Math.max(warmup.requests.average, ...runs.map((run) => run.reqPerSec)) * options.durationSec * 1.3));
        const before = scriptCalls(variant.redis ? redis : undefined);
        const cpuBefore = cpuMicros(child.pid!);
        const result = await load(port, nextHeaders, options.durationSec, options.connections);
        const cpu = cpuMicros(child.pid!) - cpuBefore;
        const calls = scriptCalls(variant.redis ? redis : undefined) - before;
        const total = result.requests.total;
        served += total;
        // On Fastify, also the server's CPU per request at a fixed offered load (the load generator saturates first).
        let fixedCpuUs: number | undefined;
        if (variant.adapter === 'fastify') {
          dpop?.prepare(FIXED_RATE * options.durationSec * 1.3);
          const cpuAt = cpuMicros(child.pid!);
          const fixed = await load(port, nextHeaders, options.durationSec, options.connections, FIXED_RATE);
          fixedCpuUs = (cpuMicros(child.pid!) - cpuAt) / Math.max(1, fixed.requests.total);
          served += fixed.requests.total;
          result.non2xx += fixed.non2xx;
          result.errors += fixed.errors;
        }
        runs.push({
          reqPerSec: result.requests.average,
          p50Ms: result.latency.p50,
          p99Ms: result.latency.p99,
          rssMb: rssMb(child.pid!),
          non2xx: result.non2xx + result.errors,
          redisCallsPerRequest: variant.redis && total > 0 ? calls / total : undefined,
          cpuUsPerRequest: cpu / Math.max(1, total),
          fixedCpuUsPerRequest: fixedCpuUs,
        });
      }
      results.push({
        ...variant,
        reqPerSec: median(runs.map((run) => run.reqPerSec)),
        p50Ms: median(runs.map((run) => run.p50Ms)),
        p99Ms: median(runs.map((run) => run.p99Ms)),
        rssMb: Math.max(...runs.map((run) => run.rssMb)),
        non2xx: runs.reduce((sum, run) => sum + run.non2xx, 0),
        redisCallsPerRequest: variant.redis ? median(runs.map((run) => run.redisCallsPerRequest ?? 0)) : undefined,
        cpuUsPerRequest: median(runs.map((run) => run.cpuUsPerRequest ?? NaN)),
        fixedCpuUsPerRequest: variant.adapter === 'fastify' ? median(runs.map((run) => run.fixedCpuUsPerRequest ?? NaN)) : undefined,
        runs,
      });
      process.stdout.write(`${variant.name.padEnd(34)} ${results[results.length - 1].reqPerSec.toFixed(0).padStart(7)} req/s\n`);
    } finally {
      child.kill('SIGTERM');
      await new Promise((done) => child.once('exit', done));
      // The requests the profiled rounds answered: bench/profile.mjs reports µs per request.
      if (options.profile) writeFileSync(join(profileDirOf(options.profile, variant), 'requests.json'), JSON.stringify({ requests: served }));
    }
  }

  const micro: MicroResult[] = await runMicro(redis.url, options.quick ? 100 : 1000);
  const bytesPerUser = await memoryPerUser(options.quick ? 2000 : 50_000);
  await redis.destroy();

  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    pinned: hasTaskset,
    date: new Date().toISOString(),
  };
  const settings = { quick: options.quick, rounds: options.rounds, durationSec: options.durationSec, connections: options.connections, users: options.users };
  writeReport(options.out, { machine, settings, results, micro, bytesPerUser });
  // A variant that answered anything but 2xx measured something else: the run fails.
  const invalid = results.filter((result) => result.non2xx > 0);
  if (invalid.length > 0) {
    process.stderr.write(`bench: INVALID, non-2xx answers in: ${invalid.map((result) => `${result.name} (${result.non2xx})`).join(', ')}\n`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? error}\n`);
  process.exit(1);
});

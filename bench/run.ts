// `npm run bench [-- --quick] [-- --out DIR]`: every variant, side by side, on this machine, in one run.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { cpus, totalmem, tmpdir } from 'node:os';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { DefenseClock, TokenService, resolveJwtDefenseOptions } from '@jwt-defense/core';
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
  variant: 'none' | 'floor' | 'bare' | 'recipe' | 'defended';
  adapter: 'express' | 'fastify';
  alg: 'HS256' | 'ES256';
  redis?: boolean;
  cache?: 'on' | 'off';
  /** Layers 3 and 4 (context risk, anomaly): on (enforce, the demo's default) unless `off`. */
  riskAnomaly?: 'off';
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
  { name: 'bare HS256', variant: 'bare', adapter: 'express', alg: 'HS256' },
  { name: 'recipe HS256 (redis)', variant: 'recipe', adapter: 'express', alg: 'HS256', redis: true },
  { name: 'defended-memory HS256', variant: 'defended', adapter: 'express', alg: 'HS256' },
  { name: 'defended-memory HS256 without layers 3-4', variant: 'defended', adapter: 'express', alg: 'HS256', riskAnomaly: 'off' },
  { name: 'defended-redis HS256', variant: 'defended', adapter: 'express', alg: 'HS256', redis: true },
  { name: 'defended-redis HS256 without layers 3-4', variant: 'defended', adapter: 'express', alg: 'HS256', redis: true, riskAnomaly: 'off' },
  { name: 'bare ES256', variant: 'bare', adapter: 'express', alg: 'ES256' },
  { name: 'recipe ES256 (redis)', variant: 'recipe', adapter: 'express', alg: 'ES256', redis: true },
  { name: 'defended-memory ES256', variant: 'defended', adapter: 'express', alg: 'ES256', cache: 'on' },
  { name: 'defended-memory ES256 no cache', variant: 'defended', adapter: 'express', alg: 'ES256', cache: 'off' },
  { name: 'defended-redis ES256', variant: 'defended', adapter: 'express', alg: 'ES256', redis: true, cache: 'on' },
  { name: 'fastify none', variant: 'none', adapter: 'fastify', alg: 'HS256' },
  { name: 'fastify floor', variant: 'floor', adapter: 'fastify', alg: 'HS256' },
  { name: 'fastify defended-memory HS256', variant: 'defended', adapter: 'fastify', alg: 'HS256' },
  { name: 'fastify defended-memory HS256 without layers 3-4', variant: 'defended', adapter: 'fastify', alg: 'HS256', riskAnomaly: 'off' },
  { name: 'fastify defended-redis HS256', variant: 'defended', adapter: 'fastify', alg: 'HS256', redis: true },
  { name: 'fastify defended-memory ES256', variant: 'defended', adapter: 'fastify', alg: 'ES256' },
];
const QUICK = FULL.filter((variant) => ['none', 'floor', 'bare HS256', 'defended-memory HS256', 'defended-redis HS256'].includes(variant.name));

const hasTaskset = (() => {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return cpus().length >= 2;
  } catch {
    return false;
  }
})();

function startServer(variant: Variant, env: Record<string, string>): Promise<{ child: ChildProcess; port: number }> {
  const server = join(HERE, 'server.js');
  const [command, argv] = hasTaskset ? ['taskset', ['-c', '0', process.execPath, server]] : [process.execPath, [server]];
  const child = spawn(command, argv, {
    env: {
      ...process.env,
      ...env,
      BENCH_VARIANT: variant.variant,
      BENCH_ADAPTER: variant.adapter,
      BENCH_ALG: variant.alg,
      BENCH_CACHE: variant.cache ?? 'on',
      BENCH_RISK_ANOMALY: variant.riskAnomaly ?? 'on',
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

function scriptCalls(redis: RedisServer | undefined): number {
  if (!redis) return 0;
  const info = execFileSync('redis-cli', ['-p', String(redis.port), 'INFO', 'commandstats']).toString();
  // Round trips: scripts (EVALSHA ours, EVAL nest-lab's) plus plain commands sent by clients. Commands run
  // inside scripts are counted by Redis too, so only the script calls and known top-level commands count.
  let calls = 0;
  for (const match of info.matchAll(/^cmdstat_(evalsha|eval|hgetall|xadd|ping):calls=(\d+)/gm)) calls += Number(match[2]);
  return calls;
}

async function load(port: number, tokens: string[], durationSec: number, connections: number) {
  let next = 0;
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections,
    duration: durationSec,
    requests: [
      {
        method: 'GET',
        path: '/me',
        setupRequest: (request: autocannon.Request) => {
          request.headers = { ...request.headers, authorization: `Bearer ${tokens[next++ % tokens.length]}` };
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

  // The same tokens for every variant: minted by the library with the demo's own keys (same kid).
  const pools: Record<string, string[]> = {};
  for (const alg of ['HS256', 'ES256'] as const) {
    const config = loadDemoConfig({ JWT_ALGORITHM: alg, JWT_SECRET: secret, JWT_PRIVATE_KEY_FILE: alg === 'ES256' ? keyFile : undefined });
    const tokens = new TokenService(resolveJwtDefenseOptions({ token: { issuer: ISSUER, audience: ISSUER, keys: loadDemoKeys(config) } }).token, new DefenseClock());
    pools[alg] = await Promise.all(Array.from({ length: options.users }, (_, i) => tokens.issue(`user-${i}`, { roles: ['user'] }, { ttlSec: 900 }).then((issued) => issued.token)));
  }

  writeFileSync(env.BENCH_TOKENS_FILE, JSON.stringify(pools.HS256));

  const only = process.argv.indexOf('--only');
  const names = only >= 0 ? process.argv[only + 1].split(',') : undefined;
  const variants = names ? FULL.filter((variant) => names.includes(variant.name)) : options.quick ? QUICK : FULL;
  const results: BenchResult[] = [];
  for (const variant of variants) {
    const { child, port } = await startServer(variant, { ...env, ...(variant.redis ? { BENCH_REDIS_URL: redis.url } : {}) });
    try {
      await load(port, pools[variant.alg], options.warmupSec, options.connections);
      const runs: BenchRun[] = [];
      for (let round = 0; round < options.rounds; round++) {
        const before = scriptCalls(variant.redis ? redis : undefined);
        const result = await load(port, pools[variant.alg], options.durationSec, options.connections);
        const calls = scriptCalls(variant.redis ? redis : undefined) - before;
        const total = result.requests.total;
        runs.push({
          reqPerSec: result.requests.average,
          p50Ms: result.latency.p50,
          p99Ms: result.latency.p99,
          rssMb: rssMb(child.pid!),
          non2xx: result.non2xx + result.errors,
          redisCallsPerRequest: variant.redis && total > 0 ? calls / total : undefined,
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
        runs,
      });
      process.stdout.write(`${variant.name.padEnd(34)} ${results[results.length - 1].reqPerSec.toFixed(0).padStart(7)} req/s\n`);
    } finally {
      child.kill('SIGTERM');
      await new Promise((done) => child.once('exit', done));
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
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? error}\n`);
  process.exit(1);
});

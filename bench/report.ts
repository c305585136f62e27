import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MicroResult } from './micro.js';

export interface BenchRun {
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  rssMb: number;
  non2xx: number;
  redisCallsPerRequest?: number;
  /** Server CPU (user + system) per request, µs, in the saturated round. */
  cpuUsPerRequest?: number;
  /** Fastify: server CPU per request at a fixed offered load, µs. */
  fixedCpuUsPerRequest?: number;
}

export interface BenchResult extends Omit<BenchRun, 'redisCallsPerRequest' | 'cpuUsPerRequest' | 'fixedCpuUsPerRequest'> {
  name: string;
  variant: string;
  adapter: string;
  alg: string;
  redis?: boolean;
  cache?: string;
  redisCallsPerRequest?: number;
  cpuUsPerRequest?: number;
  fixedCpuUsPerRequest?: number;
  runs: BenchRun[];
}

interface ReportInput {
  results: BenchResult[];
  micro: MicroResult[];
  bytesPerUser?: number;
  machine: Record<string, unknown>;
  settings: Record<string, unknown>;
}

/**
 * [label, numerator, denominator, target (minimum ratio) or undefined, measure]. `rps`: req/s of the numerator over
 * the denominator's; `cpu`: the denominator's server CPU per request over the numerator's, at a fixed offered load
 * (Fastify, where the load generator saturates first): both read "this much of the denominator's throughput".
 */
type Ratio = [string, string, string, number | undefined, 'rps' | 'cpu'];
const RATIOS: Ratio[] = [
  ['limit / none (the security headers by one hook)', 'limit', 'none', undefined, 'rps'],
  ['floor / none (what any Nest auth guard costs)', 'floor', 'none', undefined, 'rps'],
  ['HS256 memory: defended / limit', 'defended-memory HS256', 'limit', 0.9, 'rps'],
  ['HS256 Redis: defended / limit', 'defended-redis HS256', 'limit', 0.75, 'rps'],
  ['layers 3-4 on / off, Express memory', 'defended-memory HS256', 'defended-memory HS256 without layers 3-4', 0.95, 'rps'],
  ['layers 3-4 on / off, Express Redis', 'defended-redis HS256', 'defended-redis HS256 without layers 3-4', 0.95, 'rps'],
  ['ES256 memory, cache on: defended / limit', 'defended-memory ES256', 'limit', undefined, 'rps'],
  ['ES256 memory, cache off: defended / limit', 'defended-memory ES256 no cache', 'limit', undefined, 'rps'],
  ['DPoP / bearer, Express memory (one ES256 proof verified per request)', 'defended-memory HS256 DPoP', 'defended-memory HS256', undefined, 'rps'],
  ['DPoP / bearer, Express Redis', 'defended-redis HS256 DPoP', 'defended-redis HS256', undefined, 'rps'],
  ['the whole demo app / limit, Express memory', 'demo-memory HS256', 'limit', undefined, 'rps'],
  ['the whole demo app / limit, Express Redis', 'demo-redis HS256', 'limit', undefined, 'rps'],
  ['Fastify limit / Fastify none (CPU per request)', 'fastify limit', 'fastify none', undefined, 'cpu'],
  ['Fastify HS256 memory: defended / limit (CPU per request)', 'fastify defended-memory HS256', 'fastify limit', 0.75, 'cpu'],
  ['Fastify HS256 Redis: defended / limit (CPU per request)', 'fastify defended-redis HS256', 'fastify limit', 0.4, 'cpu'],
  ['layers 3-4 on / off, Fastify memory (CPU per request)', 'fastify defended-memory HS256', 'fastify defended-memory HS256 without layers 3-4', 0.95, 'cpu'],
  ['Fastify ES256, cache on: defended / limit (CPU per request)', 'fastify defended-memory ES256', 'fastify limit', undefined, 'cpu'],
  ['DPoP / bearer, Fastify memory (CPU per request)', 'fastify defended-memory HS256 DPoP', 'fastify defended-memory HS256', undefined, 'cpu'],
  ['the whole demo app / limit, Fastify memory (CPU per request)', 'fastify demo-memory HS256', 'fastify limit', undefined, 'cpu'],
  // Against what a Nest team would otherwise write (req/s): above 1 is faster, below slower.
  ['HS256 memory: defended / bare @nestjs/jwt', 'defended-memory HS256', 'bare HS256', 3, 'rps'],
  ['HS256 memory: defended / recipe', 'defended-memory HS256', 'recipe HS256 (redis)', 3, 'rps'],
  ['HS256 Redis: defended / recipe (Redis)', 'defended-redis HS256', 'recipe HS256 (redis)', 2.5, 'rps'],
  ['ES256 memory: defended / bare', 'defended-memory ES256', 'bare ES256', undefined, 'rps'],
  ['ES256 Redis: defended / recipe (Redis)', 'defended-redis ES256', 'recipe ES256 (redis)', undefined, 'rps'],
];

/** Versions of what was measured, read from node_modules (and redis-server) when the report is written. */
function versions(): string {
  const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
  const packages = ['@nestjs/core', '@nestjs/jwt', '@nestjs/throttler', 'express', 'fastify', 'jsonwebtoken', 'ioredis', 'passport-jwt', '@nest-lab/throttler-storage-redis', 'helmet', 'autocannon'];
  const found = packages.map((name) => {
    try {
      return `${name} ${(JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version}`;
    } catch {
      return `${name} ?`;
    }
  });
  try {
    found.push(`redis-server ${/v=(\S+)/.exec(execFileSync('redis-server', ['--version']).toString())?.[1] ?? '?'}`);
  } catch {
    found.push('redis-server ?');
  }
  return found.join(', ');
}

const fmt = (value: number | undefined, digits = 2) => (value === undefined || Number.isNaN(value) ? 'n/a' : value.toFixed(digits));

function svgChart(results: BenchResult[]): string {
  const width = 900;
  const barHeight = 22;
  const left = 280;
  const top = 40;
  const max = Math.max(...results.map((result) => result.reqPerSec), 1);
  const height = top + results.length * (barHeight + 8) + 30;
  const bars = results
    .map((result, index) => {
      const y = top + index * (barHeight + 8);
      const length = ((width - left - 90) * result.reqPerSec) / max;
      const color = result.variant === 'defended' || result.variant === 'demo' ? '#2e7d32' : result.variant === 'none' || result.variant === 'floor' || result.variant === 'limit' ? '#9e9e9e' : '#c62828';
      return [
        `<text x="${left - 8}" y="${y + 15}" text-anchor="end" font-size="13">${result.name}</text>`,
        `<rect x="${left}" y="${y}" width="${length.toFixed(1)}" height="${barHeight}" fill="${color}"/>`,
        `<text x="${left + length + 6}" y="${y + 15}" font-size="12">${result.reqPerSec.toFixed(0)}</text>`,
      ].join('');
    })
    .join('\n');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">GET /me, req/s (median of rounds; grey: no auth and the floor, red: usual recipes, green: jwt-defense)</text>
${bars}
</svg>
`;
}

export function renderReport(input: ReportInput): { markdown: string; svg: string } {
  const byName = new Map(input.results.map((result) => [result.name, result]));
  const none = (adapter: string) => byName.get(adapter === 'fastify' ? 'fastify none' : 'none');
  const lines: string[] = [];
  lines.push('# Benchmarks', '');
  lines.push('Generated by `npm run bench` (do not edit by hand: notes live in `bench/notes.md`). Absolute numbers on these');
  lines.push('shared 2-core machines are noise; the ratios, measured side by side in one run, are the result.', '');
  lines.push(`Machine: ${input.machine.cpu}, ${input.machine.cores} cores, ${input.machine.memoryGb} GiB, Node ${input.machine.node}; server ${input.machine.pinned ? 'pinned to core 0 and load generator to core 1 (taskset)' : 'not pinned (no taskset)'}; ${input.machine.date}.`);
  lines.push(`Versions: ${versions()}.`);
  lines.push(`Load: autocannon, ${input.settings.connections} connections, ${input.settings.rounds} round(s) of ${input.settings.durationSec} s after a warm-up, median reported; tokens from a pool of ${input.settings.users} users${input.settings.quick ? ' (QUICK RUN: smoke test only)' : ''}.`, '');
  lines.push('![req/s per variant](benchmarks.svg)', '');
  lines.push('## Ratios', '', '| ratio | value | target |', '|---|---|---|');
  for (const [label, numerator, denominator, target, measure] of RATIOS) {
    const a = byName.get(numerator);
    const b = byName.get(denominator);
    if (!a || !b) continue;
    const ratio = measure === 'cpu' ? (b.fixedCpuUsPerRequest ?? NaN) / (a.fixedCpuUsPerRequest ?? NaN) : a.reqPerSec / b.reqPerSec;
    const invalid = a.non2xx > 0 || b.non2xx > 0;
    const verdict = invalid ? 'INVALID (non-2xx answers)' : target === undefined ? '' : `≥ ${target} ${ratio >= target ? '✅' : '❌'}`;
    lines.push(`| ${label} | ${fmt(ratio)} (${ratio >= 1 ? 'faster' : 'slower'}) | ${verdict} |`);
  }
  lines.push('', '## Variants', '', '| variant | req/s | p50 ms | p99 ms | p99 added over none, ms | server CPU µs / request | at a fixed load (Fastify) | RSS MiB | Redis calls / request | non-2xx |', '|---|---|---|---|---|---|---|---|---|---|');
  for (const result of input.results) {
    const base = none(result.adapter);
    const added = base && result !== base ? fmt(result.p99Ms - base.p99Ms, 1) : '';
    lines.push(
      `| ${result.name} | ${result.reqPerSec.toFixed(0)} | ${fmt(result.p50Ms, 1)} | ${fmt(result.p99Ms, 1)} | ${added} | ${fmt(result.cpuUsPerRequest, 1)} | ${result.fixedCpuUsPerRequest === undefined ? '' : fmt(result.fixedCpuUsPerRequest, 1)} | ${result.rssMb.toFixed(0)} | ${result.redisCallsPerRequest === undefined ? '' : fmt(result.redisCallsPerRequest)} | ${result.non2xx}${result.non2xx > 0 ? ' INVALID' : ''} |`,
    );
  }
  lines.push('', 'Variants: `none` is the same Nest app without auth (the ceiling); `floor` adds one trivial global guard that');
  lines.push('reads the bearer header and looks the token up in a `Map` (the least any Nest authentication can cost); `limit` is');
  lines.push('`floor` plus the same ten security headers the defended app sends, set by one hook (an Express middleware, a');
  lines.push('Fastify `onRequest` with `reply.headers()`): the least an authenticated answer with those headers can cost; `bare`');
  lines.push('is the @nestjs/jwt guard of its documentation (`verifyAsync` with a string secret or PEM key); `recipe` is');
  lines.push('passport-jwt via @nestjs/passport, @nestjs/throttler with @nest-lab/throttler-storage-redis, and helmet; `defended`');
  lines.push('is the limit app\'s route with `JwtDefenseModule` instead of the floor guard, every layer on (pre-filter,');
  lines.push('verification, the IP throttle, the one store call for revocation, the per-user limit, risk and anomaly, headers) and');
  lines.push('its Prometheus sink, limits set high enough never to trigger; `demo` is the whole demo app (GraphQL, terminus,');
  lines.push('the ops modules, the validation pipe). Server CPU per request is the server process\'s user + system time over the');
  lines.push('answers of the round; on Fastify the ratios use it at a fixed offered load of ' + '5000' + ' req/s, because one core of load');
  lines.push('generator saturates before the server there. A variant with any non-2xx answer is INVALID and fails the run.');
  lines.push('Redis calls per request count EVALSHA/EVAL and plain commands sent by clients (commands run inside scripts are not');
  lines.push('round trips).', '');
  lines.push('## Where the time goes (microbenchmarks, tinybench)', '', '| operation | mean µs | p99 µs |', '|---|---|---|');
  for (const micro of input.micro) lines.push(`| ${micro.name} | ${fmt(micro.meanUs, 1)} | ${fmt(micro.p99Us, 1)} |`);
  if (input.bytesPerUser !== undefined) {
    lines.push('', `Memory per tracked user on the memory store (user epoch, sliding rate counter, context profile with one country, one device and the hour histogram, one route baseline): ~${input.bytesPerUser.toFixed(0)} bytes of heap; bounded by \`store.maxUserEpochs\`, \`store.maxCounters\` and \`store.maxProfiles\`.`);
  }
  const notes = join(dirname(fileURLToPath(import.meta.url)), '../../../bench/notes.md'); // from dist/bench/bench
  if (existsSync(notes)) lines.push('', readFileSync(notes, 'utf8').trim());
  return { markdown: `${lines.join('\n')}\n`, svg: svgChart(input.results) };
}

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
}

export interface BenchResult extends Omit<BenchRun, 'redisCallsPerRequest'> {
  name: string;
  variant: string;
  adapter: string;
  alg: string;
  redis?: boolean;
  cache?: string;
  redisCallsPerRequest?: number;
  runs: BenchRun[];
}

interface ReportInput {
  results: BenchResult[];
  micro: MicroResult[];
  bytesPerUser?: number;
  machine: Record<string, unknown>;
  settings: Record<string, unknown>;
}

/** [label, numerator, denominator, target (minimum ratio) or undefined]. */
const RATIOS: Array<[string, string, string, number | undefined]> = [
  ['HS256 memory: defended / none', 'defended-memory HS256', 'none', 0.85],
  ['HS256 memory: defended / floor', 'defended-memory HS256', 'floor', undefined],
  ['floor / none (what any Nest auth guard costs)', 'floor', 'none', undefined],
  ['HS256 memory: defended / bare @nestjs/jwt', 'defended-memory HS256', 'bare HS256', 3],
  ['HS256 memory: defended / recipe', 'defended-memory HS256', 'recipe HS256 (redis)', 3],
  ['HS256 Redis: defended / none', 'defended-redis HS256', 'none', 0.75],
  ['layers 3-4 on / off, Express memory', 'defended-memory HS256', 'defended-memory HS256 without layers 3-4', 0.95],
  ['layers 3-4 on / off, Express Redis', 'defended-redis HS256', 'defended-redis HS256 without layers 3-4', 0.95],
  ['layers 3-4 on / off, Fastify memory', 'fastify defended-memory HS256', 'fastify defended-memory HS256 without layers 3-4', 0.9],
  ['HS256 Redis: defended / recipe (Redis)', 'defended-redis HS256', 'recipe HS256 (redis)', 2.5],
  ['ES256 memory, cache on: defended / none', 'defended-memory ES256', 'none', 0.6],
  ['ES256 memory, cache off: defended / none', 'defended-memory ES256 no cache', 'none', undefined],
  ['ES256 memory: defended / bare', 'defended-memory ES256', 'bare ES256', undefined],
  ['ES256 Redis: defended / recipe (Redis)', 'defended-redis ES256', 'recipe ES256 (redis)', undefined],
  ['Fastify HS256: defended / Fastify none', 'fastify defended-memory HS256', 'fastify none', 0.65],
  ['Fastify HS256: defended / Fastify floor', 'fastify defended-memory HS256', 'fastify floor', undefined],
  ['Fastify floor / Fastify none', 'fastify floor', 'fastify none', undefined],
  ['Fastify HS256 Redis: defended / Fastify none', 'fastify defended-redis HS256', 'fastify none', undefined],
  ['Fastify ES256, cache on: defended / Fastify none', 'fastify defended-memory ES256', 'fastify none', 0.6],
  ['DPoP / bearer, Express memory (one ES256 proof verified per request)', 'defended-memory HS256 DPoP', 'defended-memory HS256', undefined],
  ['DPoP / bearer, Express Redis', 'defended-redis HS256 DPoP', 'defended-redis HS256', undefined],
  ['DPoP / bearer, Fastify memory', 'fastify defended-memory HS256 DPoP', 'fastify defended-memory HS256', undefined],
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
      const color = result.variant === 'defended' ? '#2e7d32' : result.variant === 'none' || result.variant === 'floor' ? '#9e9e9e' : '#c62828';
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
  for (const [label, numerator, denominator, target] of RATIOS) {
    const a = byName.get(numerator);
    const b = byName.get(denominator);
    if (!a || !b) continue;
    const ratio = a.reqPerSec / b.reqPerSec;
    const verdict = target === undefined ? '' : `≥ ${target} ${ratio >= target ? '✅' : '❌'}`;
    lines.push(`| ${label} | ${fmt(ratio)} | ${verdict} |`);
  }
  lines.push('', '## Variants', '', '| variant | req/s | p50 ms | p99 ms | p99 added over none, ms | RSS MiB | Redis calls / request | non-2xx |', '|---|---|---|---|---|---|---|---|');
  for (const result of input.results) {
    const base = none(result.adapter);
    const added = base && result !== base ? fmt(result.p99Ms - base.p99Ms, 1) : '';
    lines.push(
      `| ${result.name} | ${result.reqPerSec.toFixed(0)} | ${fmt(result.p50Ms, 1)} | ${fmt(result.p99Ms, 1)} | ${added} | ${result.rssMb.toFixed(0)} | ${result.redisCallsPerRequest === undefined ? '' : fmt(result.redisCallsPerRequest)} | ${result.non2xx} |`,
    );
  }
  lines.push('', 'Variants: `none` is the same Nest app without auth (the ceiling); `floor` adds one trivial global guard that');
  lines.push('reads the bearer header and looks the token up in a `Map` (the least any Nest authentication can cost); `bare` is the @nestjs/jwt guard of its');
  lines.push('documentation (`verifyAsync` with a string secret or PEM key); `recipe` is passport-jwt via @nestjs/passport,');
  lines.push('@nestjs/throttler with @nest-lab/throttler-storage-redis, and helmet; `defended` is the demo app with every');
  lines.push('jwt-defense layer on (pre-filter, verification, one store call for revocation and the per-user limit, the IP');
  lines.push('throttle, headers), limits set high enough never to trigger. Redis calls per request count EVALSHA/EVAL and');
  lines.push('plain commands sent by clients (commands run inside scripts are not round trips).', '');
  lines.push('## Where the time goes (microbenchmarks, tinybench)', '', '| operation | mean µs | p99 µs |', '|---|---|---|');
  for (const micro of input.micro) lines.push(`| ${micro.name} | ${fmt(micro.meanUs, 1)} | ${fmt(micro.p99Us, 1)} |`);
  if (input.bytesPerUser !== undefined) {
    lines.push('', `Memory per tracked user on the memory store (user epoch, sliding rate counter, context profile with one country, one device and the hour histogram, one route baseline): ~${input.bytesPerUser.toFixed(0)} bytes of heap; bounded by \`store.maxUserEpochs\`, \`store.maxCounters\` and \`store.maxProfiles\`.`);
  }
  const notes = join(dirname(fileURLToPath(import.meta.url)), '../../../bench/notes.md'); // from dist/bench/bench
  if (existsSync(notes)) lines.push('', readFileSync(notes, 'utf8').trim());
  return { markdown: `${lines.join('\n')}\n`, svg: svgChart(input.results) };
}

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Smoke test of `npm run bench -- --quick`: it runs and writes sane output. Never a speed threshold. */
describe('npm run bench -- --quick', () => {
  it('runs every quick variant without errors and writes the report, the plot and the data', () => {
    const out = mkdtempSync(join(tmpdir(), 'jwtd-bench-out-'));
    execFileSync('npm', ['run', 'bench', '--', '--quick', '--out', out], { cwd: join(__dirname, '..'), stdio: 'pipe', timeout: 240_000 });
    const data = JSON.parse(readFileSync(join(out, 'benchmarks.json'), 'utf8')) as {
      results: Array<{ name: string; adapter: string; reqPerSec: number; non2xx: number; redisCallsPerRequest?: number; cpuUsPerRequest?: number; fixedCpuUsPerRequest?: number }>;
      micro: Array<{ name: string; meanUs: number }>;
    };
    expect(data.results.map((result) => result.name)).toEqual([
      'none', 'floor', 'limit', 'bare HS256', 'defended-memory HS256', 'defended-redis HS256', 'defended-redis HS256 DPoP', 'fastify limit', 'fastify defended-memory HS256',
    ]);
    for (const result of data.results) {
      expect(result.reqPerSec).toBeGreaterThan(0);
      expect(result.non2xx).toBe(0);
      // Server CPU per request, read from /proc: a sane range (a request costs microseconds to milliseconds).
      expect({ name: result.name, sane: result.cpuUsPerRequest! > 1 && result.cpuUsPerRequest! < 100_000 }).toEqual({ name: result.name, sane: true });
      if (result.adapter === 'fastify') expect({ name: result.name, sane: result.fixedCpuUsPerRequest! > 1 && result.fixedCpuUsPerRequest! < 100_000 }).toEqual({ name: result.name, sane: true });
    }
    // The budget (#21): 1 Redis round trip per authenticated request (the defence check, the per-IP count inside it); a
    // DPoP proof (its replay check included) costs no extra one. Above 1: the learning writes of layers 3-4 (at most one
    // per user and interval, after the answer) and the 1 s global-state refresh, which weigh more when a loaded machine
    // serves fewer requests; a second round trip per request would be 2.
    for (const name of ['defended-redis HS256', 'defended-redis HS256 DPoP']) {
      const redis = data.results.find((result) => result.name === name)!;
      expect({ name, atLeast1: redis.redisCallsPerRequest! > 0.95, below1_25: redis.redisCallsPerRequest! < 1.25 }).toEqual({ name, atLeast1: true, below1_25: true });
    }
    expect(data.micro.every((micro) => micro.meanUs > 0)).toBe(true);
    const markdown = readFileSync(join(out, 'BENCHMARKS.md'), 'utf8');
    expect(markdown).toContain('## Ratios');
    expect(markdown).toMatch(/\| HS256 memory: defended \/ limit \| \d+\.\d\d \((faster|slower)\) \|/);
    expect(markdown).toMatch(/\| Fastify HS256 memory: defended \/ limit \(CPU per request\) \| \d+\.\d\d \((faster|slower)\) \|/);
    expect(readFileSync(join(out, 'benchmarks.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
  }, 300_000);
});

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
    // The budget: 2 Redis round trips per authenticated request (IP throttle, one defence check); a DPoP proof (its
    // replay check included) costs no extra one. Above 2: the learning writes of layers 3-4 (at most one per user and
    // interval, after the answer) and the 1 s global-state refresh, which weigh more when a loaded machine serves
    // fewer requests; a third round trip per request would be 3.
    for (const name of ['defended-redis HS256', 'defended-redis HS256 DPoP']) {
      const redis = data.results.find((result) => result.name === name)!;
      expect({ name, atLeast2: redis.redisCallsPerRequest! > 1.9, below2_25: redis.redisCallsPerRequest! < 2.25 }).toEqual({ name, atLeast2: true, below2_25: true });
    }
    expect(data.micro.every((micro) => micro.meanUs > 0)).toBe(true);
    const markdown = readFileSync(join(out, 'BENCHMARKS.md'), 'utf8');
    expect(markdown).toContain('## Ratios');
    expect(markdown).toMatch(/\| HS256 memory: defended \/ limit \| \d+\.\d\d \((faster|slower)\) \|/);
    expect(markdown).toMatch(/\| Fastify HS256 memory: defended \/ limit \(CPU per request\) \| \d+\.\d\d \((faster|slower)\) \|/);
    expect(readFileSync(join(out, 'benchmarks.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
  }, 300_000);
});

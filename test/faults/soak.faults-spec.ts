import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { SoakReport } from '../../soak/soak.js';

const execFileAsync = promisify(execFile);

const CLASSES = ['valid', 'revoked', 'hostile', 'throttled', 'login-stuffing', 'dpop', 'dpop-replay', 'external'];

/**
 * `npm run soak` as users run it (a build, then the demo in its own process on a real Redis, with a real OpenID
 * provider), shortened to 15 s so the script cannot rot: no unexpected error, every class did its job, every field of
 * the report is there and sane, keys within their bound. Never a speed threshold: the figures are only checked to
 * exist and be consistent.
 */
describe('npm run soak -- --duration 15', () => {
  it('runs every traffic class with no unexpected error and writes the full report', async () => {
    const out = mkdtempSync(join(tmpdir(), 'jwtd-soak-out-'));
    const { stdout } = await execFileAsync('npm', ['run', '--silent', 'soak', '--', '--duration', '15', '--out', out], {
      cwd: join(__dirname, '../..'),
      timeout: 170_000,
    });
    expect(stdout).toMatch(/^soak passed: \d+ requests, 0 unexpected errors/m);

    const report = JSON.parse(readFileSync(join(out, 'soak-report.json'), 'utf8')) as SoakReport;
    expect(report.durationSec).toBe(15);
    expect(report.totals.unexpectedErrors).toBe(0);
    expect(report.unexpectedSamples).toEqual([]);
    expect(report.classes.map((result) => result.name)).toEqual(CLASSES);
    for (const result of report.classes) {
      expect(result).toEqual({
        name: expect.any(String),
        description: expect.any(String),
        endpoint: expect.stringMatching(/^(GET|POST) \//),
        expected: expect.any(Array),
        answers: expect.any(Object),
        requests: expect.any(Number),
        reqPerSec: expect.any(Number),
        p50Ms: expect.any(Number),
        p99Ms: expect.any(Number),
        maxMs: expect.any(Number),
        unexpectedAnswers: 0,
        errors: 0,
        timeouts: 0,
        missing: [],
      });
      // Every answer is one the class expects, and they add up.
      for (const answer of Object.keys(result.answers)) expect(result.expected).toContain(answer);
      expect(Object.values(result.answers).reduce((sum, count) => sum + count, 0)).toBe(result.requests);
      expect(result.requests).toBeGreaterThan(0);
      expect(result.p50Ms).toBeLessThanOrEqual(result.p99Ms);
      expect(result.p99Ms).toBeLessThanOrEqual(result.maxMs);
    }
    const answers = (name: string) => report.classes.find((result) => result.name === name)!.answers;
    expect(answers('throttled')['429 rate_limited']).toBeGreaterThan(0);
    expect(answers('login-stuffing')['429 rate_limited']).toBeGreaterThan(0);
    expect(answers('dpop-replay')).toEqual({ '401 invalid_dpop_proof': expect.any(Number) });
    expect(answers('revoked')).toEqual({ '401 token_revoked': expect.any(Number) });
    expect(report.totals.requests).toBe(report.classes.reduce((sum, result) => sum + result.requests, 0));

    // Memory and keys at start and end, sampled in between; keys within the bound of the run's users and TTLs.
    expect(report.demo).toEqual({ rssStartMb: expect.any(Number), rssEndMb: expect.any(Number), rssMaxMb: expect.any(Number), errorLogLines: 0 });
    expect(report.demo.rssStartMb).toBeGreaterThan(20);
    expect(report.demo.rssMaxMb).toBeGreaterThanOrEqual(report.demo.rssEndMb);
    const { redis } = report;
    expect(redis.usedMemoryStartBytes).toBeGreaterThan(0);
    expect(redis.usedMemoryEndBytes).toBeGreaterThan(0);
    expect(redis.keysEnd).toBeGreaterThan(redis.keysStart);
    expect(redis.keysEnd).toBeLessThanOrEqual(redis.keysBound);
    expect(redis.keysByKind.map((kind) => kind.kind)).toEqual(expect.arrayContaining(['r', 'c', 'j', 'n', 'dp', 't:ip', 't:body', '{g}:global']));
    for (const kind of redis.keysByKind) expect(kind.count).toBeLessThanOrEqual(kind.bound);
    expect(redis.keysByKind.reduce((sum, kind) => sum + kind.count, 0)).toBe(redis.keysEnd);
    expect(report.samples.length).toBeGreaterThanOrEqual(3);
    expect(report.samples[report.samples.length - 1]).toMatchObject({ demoRssMb: report.demo.rssEndMb, redisKeys: redis.keysEnd });
    expect(report.machine).toEqual({ cpu: expect.any(String), cores: expect.any(Number), node: process.version, redis: expect.stringMatching(/^\d+\.\d+/) });

    const markdown = readFileSync(join(out, 'SOAK.md'), 'utf8');
    expect(markdown).toMatch(/^# Soak\n\n\*\*Result: PASS\*\* — 0 unexpected errors/);
    for (const heading of ['## Traffic by class', '## Memory', '## Keys at the end, by kind, against their bound', '## Samples']) expect(markdown).toContain(heading);
    for (const name of CLASSES) expect(markdown).toContain(`| ${name} |`);
    // No token, password or key in the artefacts (the report names the demo's env, never its secrets).
    const log = readFileSync(join(out, 'demo.log'), 'utf8');
    for (const text of [markdown, JSON.stringify(report), log]) expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{20,}|admin-password|alice-password|PRIVATE KEY/);
  }, 180_000);
});

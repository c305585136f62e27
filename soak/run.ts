// `npm run soak [-- --duration SEC] [-- --out DIR] [-- --rate FACTOR]`: the built demo on a real Redis under several
// minutes of mixed traffic (default 300 s), written up as SOAK.md and soak-report.json in DIR. Exits 1 when the soak
// failed (an unexpected error, a class that did not do its job, keys over their bound).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { option } from './cli-option.js';
import { renderSoakReport, soakProblems } from './report.js';
import { runSoak } from './soak.js';

const HERE = dirname(fileURLToPath(import.meta.url)); // dist/soak/soak

async function main(): Promise<number> {
  const out = resolve(option('--out') ?? mkdtempSync(join(tmpdir(), 'jwt-defense-soak-')));
  mkdirSync(out, { recursive: true });
  const durationSec = Number(option('--duration') ?? 300);
  const report = await runSoak({
    durationSec,
    rateFactor: Number(option('--rate') ?? 1),
    demoMain: join(HERE, '..', 'apps', 'demo', 'src', 'main.js'),
    demoLogFile: join(out, 'demo.log'),
  });
  writeFileSync(join(out, 'soak-report.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(out, 'SOAK.md'), renderSoakReport(report));
  const problems = soakProblems(report);
  process.stdout.write(
    `soak ${problems.length === 0 ? 'passed' : 'FAILED'}: ${report.totals.requests} requests, ${report.totals.unexpectedErrors} unexpected errors; ` +
      `demo RSS ${report.demo.rssStartMb} → ${report.demo.rssEndMb} MiB; Redis keys ${report.redis.keysStart} → ${report.redis.keysEnd} (bound ${report.redis.keysBound}); report ${join(out, 'SOAK.md')}\n`,
  );
  for (const problem of problems) process.stdout.write(`  ${problem}\n`);
  return problems.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`soak: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(2);
  },
);

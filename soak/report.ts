import type { SoakReport } from './soak.js';

const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

/**
 * What makes a soak fail: an unexpected error, a class that never got the answer it exists for, or more keys in
 * Redis than the run's users and TTLs allow (of any kind, or in all). Empty when the soak passed.
 */
export function soakProblems(report: SoakReport): string[] {
  const problems: string[] = [];
  if (report.totals.unexpectedErrors !== 0) problems.push(`${report.totals.unexpectedErrors} unexpected errors`);
  for (const result of report.classes) {
    if (result.missing.length > 0) problems.push(`class ${result.name} never got ${result.missing.join(', ')}`);
  }
  for (const kind of report.redis.keysByKind) {
    if (kind.count > kind.bound) problems.push(`${kind.count} keys of kind ${kind.kind}, over its bound ${kind.bound} (${kind.why})`);
  }
  if (report.redis.keysEnd > report.redis.keysBound) problems.push(`${report.redis.keysEnd} keys at the end, over the bound ${report.redis.keysBound}`);
  return problems;
}

/** The report as Markdown (SOAK.md). */
export function renderSoakReport(report: SoakReport): string {
  const problems = soakProblems(report);
  const { demo, redis, totals } = report;
  const lines = [
    '# Soak',
    '',
    `**Result: ${problems.length === 0 ? 'PASS' : 'FAIL'}** — ${totals.unexpectedErrors} unexpected errors in ${totals.requests} requests (${totals.reqPerSec} req/s) over ${report.durationSec} s.`,
    ...problems.map((problem) => `- ${problem}`),
    '',
    `Started ${report.startedAt} on ${report.machine.cpu}, ${report.machine.cores} cores, Node ${report.machine.node}, redis-server ${report.machine.redis}.`,
    'The built demo runs in its own process (Express, ES256, Redis store, an external OpenID provider); the load',
    'generator (autocannon, one instance per class at a fixed rate) runs beside it on the same machine.',
    '',
    '## Traffic by class',
    '',
    'An unexpected error is an answer outside the class\'s expected set (a 5xx always is), a connection error or a timeout.',
    '',
    '| class | endpoint | requests | req/s | p50 ms | p99 ms | max ms | answers | unexpected |',
    '|---|---|---|---|---|---|---|---|---|',
    ...report.classes.map((result) => {
      const answers = Object.entries(result.answers).sort(([, a], [, b]) => b - a).map(([answer, count]) => `${answer}: ${count}`).join('; ');
      return `| ${result.name} | \`${result.endpoint}\` | ${result.requests} | ${result.reqPerSec} | ${result.p50Ms} | ${result.p99Ms} | ${result.maxMs} | ${answers} | ${result.unexpectedAnswers + result.errors} |`;
    }),
    '',
    ...report.classes.map((result) => `- **${result.name}**: ${result.description}; expected ${result.expected.map((answer) => `\`${answer}\``).join(', ')}.`),
    '',
    ...(report.unexpectedSamples.length > 0
      ? ['Unexpected answers (first of each kind):', '', ...report.unexpectedSamples.map((sample) => `- ${sample.class}: \`${sample.answer}\` ${sample.body.replace(/\s+/g, ' ')}`), '']
      : []),
    '## Memory',
    '',
    '| | start | end | max |',
    '|---|---|---|---|',
    `| demo RSS, MiB | ${demo.rssStartMb} | ${demo.rssEndMb} | ${demo.rssMaxMb} |`,
    `| Redis used_memory, MiB | ${mb(redis.usedMemoryStartBytes)} | ${mb(redis.usedMemoryEndBytes)} | ${mb(Math.max(...report.samples.map((sample) => sample.redisUsedMemoryBytes)))} |`,
    `| Redis keys (DBSIZE) | ${redis.keysStart} | ${redis.keysEnd} | ${Math.max(...report.samples.map((sample) => sample.redisKeys))} |`,
    '',
    `Demo log lines at level error: ${demo.errorLogLines}.`,
    '',
    '## Keys at the end, by kind, against their bound',
    '',
    'Every key has a TTL; what stays is bounded by the run\'s users, addresses and windows, not by its length.',
    '',
    '| kind | keys | bound | why |',
    '|---|---|---|---|',
    ...redis.keysByKind.map((kind) => `| \`${kind.kind}\` | ${kind.count} | ${kind.bound} | ${kind.why} |`),
    `| all | ${redis.keysEnd} | ${redis.keysBound} | |`,
    '',
    '## Samples',
    '',
    '| s | demo RSS MiB | Redis used_memory MiB | Redis keys |',
    '|---|---|---|---|',
    ...report.samples.map((sample) => `| ${sample.atSec} | ${sample.demoRssMb} | ${mb(sample.redisUsedMemoryBytes)} | ${sample.redisKeys} |`),
    '',
    '## Demo environment',
    '',
    ...Object.entries(report.demoEnv).map(([name, value]) => `- \`${name}=${value}\``),
    '',
  ];
  return lines.join('\n');
}

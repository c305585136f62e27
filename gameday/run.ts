// `npm run gameday [-- --out DIR] [-- --adapter fastify] [-- --redis redis://host:port]`: a rehearsal of a stolen-token
// incident against a local demo, written up as a Markdown timeline (GAMEDAY.md) with the events (events.ndjson).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createDemoApp } from '../apps/demo/src/demo.app.js';
import { loadDemoConfig } from '../apps/demo/src/demo.config.js';
import { renderGamedayReport } from './report.js';
import { gamedayDemoEnv, runStolenTokenScenario } from './scenario.js';

function option(name: string): string | undefined {
  const argv = process.argv.slice(2);
  const index = argv.indexOf(name);
  return index >= 0 ? argv[index + 1] : undefined;
}

async function main(): Promise<number> {
  const out = resolve(option('--out') ?? mkdtempSync(join(tmpdir(), 'jwt-defense-gameday-')));
  mkdirSync(out, { recursive: true });
  const env = gamedayDemoEnv(option('--adapter') ?? 'express', option('--redis'));
  const app = await createDemoApp(loadDemoConfig(env), { logger: ['warn', 'error'] });
  await app.listen(0, '127.0.0.1');
  const base = `http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`;
  try {
    const result = await runStolenTokenScenario(base);
    const shown = Object.fromEntries(Object.entries(env).filter(([name]) => name !== 'JWT_KEY_ENCRYPTION_KEY'));
    writeFileSync(join(out, 'GAMEDAY.md'), renderGamedayReport(result, shown));
    writeFileSync(join(out, 'events.ndjson'), result.events.map((event) => `${JSON.stringify(event)}\n`).join(''));
    const failed = result.checks.filter((check) => !check.ok);
    process.stdout.write(`game day ${failed.length === 0 ? 'passed' : 'FAILED'}: ${result.checks.length - failed.length}/${result.checks.length} checks; report ${join(out, 'GAMEDAY.md')}\n`);
    for (const check of failed) process.stdout.write(`  failed: ${check.phase}: ${check.what} (${check.detail ?? ''})\n`);
    return failed.length === 0 ? 0 : 1;
  } finally {
    await app.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`game day: ${(error as Error)?.stack ?? String(error)}\n`);
    process.exit(2);
  },
);

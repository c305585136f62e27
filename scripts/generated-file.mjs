// The command line of a generator of a committed file (npm run docs:config, npm run docs:errors): `--write` writes
// the file, `--check` exits 1 when the committed one differs; without either, nothing runs (the test imports it).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** `make()` returns the whole file's new text and the problems found (any problem: exit 1, nothing written). */
export function generatedFileCommand(name, file, make) {
  const write = process.argv.includes('--write');
  const check = process.argv.includes('--check');
  if (!write && !check) return;
  const { text, problems } = make();
  if (problems.length > 0) {
    for (const problem of problems) console.error(`${name}: ${problem}`);
    process.exit(1);
  }
  const path = join(process.cwd(), file);
  if (write) {
    writeFileSync(path, text);
    console.log(`${name}: wrote ${file}`);
  } else if (readFileSync(path, 'utf8') !== text) {
    console.error(`${name}: ${file} is stale: run npm run ${name}`);
    process.exit(1);
  }
}

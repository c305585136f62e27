import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { JwtDefenseOptions } from '../libs/jwt-defense/src/jwt-defense.options.js';
import { describeOptionsClass } from '../libs/jwt-defense/src/common/options.js';
import { JwtDefenseOpsOptions } from '../libs/jwt-defense/src/ops/ops.options.js';
import { buildConfigurationReference } from '../scripts/config-reference.mjs';

// docs/CONFIGURATION.md is generated from the option classes' JSDoc (npm run docs:config). This keeps it honest:
// the file is what the generator makes today, and every option the resolver accepts (walked at run time, from
// the decorators' metadata, not from the sources the generator reads) has its entry.

const root = join(__dirname, '..');
const reference = buildConfigurationReference(root);

type Class = new () => object;

/** Every path `resolveOptions` accepts, from the run-time metadata: lists as `[]`, records as `.<name>`. */
function acceptedPaths(type: Class, path = ''): string[] {
  return describeOptionsClass(type).flatMap(({ name, nested }) => {
    const here = path ? `${path}.${name}` : name;
    if (!nested) return [here];
    const below = nested.kind === 'list' ? `${here}[]` : nested.kind === 'record' ? `${here}.<name>` : here;
    return [here, ...Object.values(nested.types).flatMap((child) => acceptedPaths(child, below))];
  });
}

/** Paths without an entry in the reference. */
const missingEntries = (paths: string[], documented: Set<string>) => [...new Set(paths)].filter((path) => !documented.has(path));

describe('docs/CONFIGURATION.md', () => {
  const documented = new Set(reference.rows.map((row) => row.path));
  // And JwtDefenseOpsModule.forRoot()'s, under `ops.` (the path its boot errors name).
  const accepted = [...acceptedPaths(JwtDefenseOptions), ...acceptedPaths(JwtDefenseOpsOptions, 'ops')];

  it('is what npm run docs:config generates from the sources today', () => {
    const onDisk = readFileSync(join(root, 'docs/CONFIGURATION.md'), 'utf8');
    if (onDisk !== reference.markdown) throw new Error('docs/CONFIGURATION.md is stale: run npm run docs:config and commit it');
  });

  it('has JSDoc for every option (the generator reports none missing)', () => {
    expect(reference.problems).toEqual([]);
    for (const row of reference.rows) expect(row.doc.length).toBeGreaterThan(10);
  });

  it('has an entry for every option the resolver accepts, and none for a name it would refuse', () => {
    expect(accepted.length).toBeGreaterThan(40);
    expect(missingEntries(accepted, documented)).toEqual([]);
    expect([...documented].filter((path) => !accepted.includes(path))).toEqual([]);
    // The file itself has a row for each.
    const markdown = reference.markdown;
    for (const path of new Set(accepted)) expect(markdown).toContain(`| \`${path}\` |`);
  });

  it('the check would catch an option without an entry', () => {
    const withoutOne = new Set(documented);
    withoutOne.delete('principalProperty');
    expect(missingEntries(accepted, withoutOne)).toEqual(['principalProperty']);
  });

  it('gives each entry its type and default from the class', () => {
    const row = (path: string) => reference.rows.find((candidate) => candidate.path === path);
    expect(row('token.accessTokenTtlSec')).toMatchObject({ type: 'number', default: '`300`' });
    expect(row('principalProperty')).toMatchObject({ type: 'string | false', default: "`'user'`" });
    expect(row('issuers[].issuer')?.default).toBe('**required**');
    expect(row('throttle.profiles.<name>.body.field')?.default).toBe('**required**');
    expect(row('store.connection')?.type).toBe('RedisStoreConnection');
  });
});

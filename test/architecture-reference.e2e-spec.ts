import { join } from 'node:path';
import { BUILT_IN_CHECK_PARTS } from '../libs/jwt-defense/src/pipeline/check-parts.js';
import { BUILT_IN_CHECK_STAGES } from '../libs/jwt-defense/src/pipeline/check-stages.js';
import { readRegistrations, renderArchitecture } from '../scripts/architecture-reference.mjs';

// docs/ARCHITECTURE.md's stage table is generated from the registrations (npm run docs:architecture), as the
// configuration reference is from the options: the file is what the generator makes today, and the generator reads
// what the module runs (the same stages and parts, in the same order).

const root = join(__dirname, '..');

describe('docs/ARCHITECTURE.md', () => {
  it('holds the stage table npm run docs:architecture generates from the sources today', () => {
    const { onDisk, rendered, problems } = renderArchitecture(root);
    expect(problems).toEqual([]);
    if (onDisk !== rendered) throw new Error('docs/ARCHITECTURE.md is stale: run npm run docs:architecture and commit it');
  });

  it('lists the stages and parts the module registers, in their order', () => {
    const { stages, parts } = readRegistrations(root);
    expect(stages.map((stage) => stage.name)).toEqual(BUILT_IN_CHECK_STAGES.map((stage) => stage.name));
    expect(parts.map((part) => part.name)).toEqual(BUILT_IN_CHECK_PARTS.map((part) => part.name));
    expect(parts.map((part) => part.phases)).toEqual(BUILT_IN_CHECK_PARTS.map((part) => ['check', 'count', 'commit'].filter((phase) => phase in part.lua)));
  });
});

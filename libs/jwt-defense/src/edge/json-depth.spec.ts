import fc from 'fast-check';
import { jsonTooDeep } from './json-depth.js';

/** Reference by construction: the depth of a parsed JSON value. */
function depthOf(value: unknown): number {
  if (value === null || typeof value !== 'object') return 0;
  const children = Array.isArray(value) ? value : Object.values(value as object);
  return 1 + Math.max(0, ...children.map(depthOf));
}

describe('jsonTooDeep', () => {
  it('agrees with the depth of the parsed value, brackets inside strings and escapes included (property)', () => {
    const text = fc.string({ unit: fc.constantFrom('[', ']', '{', '}', '"', '\\', 'a', ' ') });
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 12 }), fc.integer({ min: 1, max: 12 }), text, (value, max, noise) => {
        const json = JSON.stringify({ noise, value });
        expect(jsonTooDeep(json, max)).toBe(depthOf(JSON.parse(json)) > max);
        expect(jsonTooDeep(Buffer.from(json), max)).toBe(depthOf(JSON.parse(json)) > max);
      }),
      { numRuns: 2000 },
    );
  });

  it('stops at the first level too deep of a hostile body', () => {
    expect(jsonTooDeep('['.repeat(45_000), 32)).toBe(true);
    expect(jsonTooDeep(`${'['.repeat(32)}${']'.repeat(32)}`, 32)).toBe(false);
  });
});

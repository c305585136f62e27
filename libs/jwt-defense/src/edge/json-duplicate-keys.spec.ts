import fc from 'fast-check';
import { hasDuplicateJsonKeys } from './json-duplicate-keys.js';

/** Reference: build the JSON text from explicit member lists, so duplicates are known by construction. */
type Node = { kind: 'object'; members: Array<[string, Node]> } | { kind: 'array'; items: Node[] } | { kind: 'leaf'; value: unknown };

const node: fc.Arbitrary<Node> = fc.letrec<{ node: Node }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.jsonValue({ maxDepth: 0 }).map((value): Node => ({ kind: 'leaf', value })),
    fc.array(fc.tuple(fc.constantFrom('a', 'b', 'alg', 'kid', '"', 'é', '\\', 'x y'), tie('node')), { maxLength: 4 })
      .map((members): Node => ({ kind: 'object', members })),
    fc.array(tie('node'), { maxLength: 3 }).map((items): Node => ({ kind: 'array', items })),
  ),
})).node;

function render(n: Node, escapeNames: boolean): string {
  if (n.kind === 'leaf') return JSON.stringify(n.value);
  if (n.kind === 'array') return `[${n.items.map((item) => render(item, escapeNames)).join(', ')}]`;
  const name = (key: string) =>
    escapeNames ? `"${[...key].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"` : JSON.stringify(key);
  return `{ ${n.members.map(([key, value]) => `${name(key)} : ${render(value, escapeNames)}`).join(' ,\n')} }`;
}

function hasDuplicates(n: Node): boolean {
  if (n.kind === 'leaf') return false;
  if (n.kind === 'array') return n.items.some(hasDuplicates);
  const names = n.members.map(([key]) => key);
  return new Set(names).size !== names.length || n.members.some(([, value]) => hasDuplicates(value));
}

describe('hasDuplicateJsonKeys', () => {
  it('agrees with the reference on arbitrary JSON, with or without escaped names', () => {
    fc.assert(
      fc.property(node, fc.boolean(), (tree, escapeNames) => {
        expect(hasDuplicateJsonKeys(render(tree, escapeNames))).toBe(hasDuplicates(tree));
      }),
      { numRuns: 2000 },
    );
  });

  it.each([
    ['{"alg":"ES256","alg":"none"}', true],
    ['{"alg":"ES256","\\u0061lg":"none"}', true],
    ['{"a":{"b":1,"b":2}}', true],
    ['{"a":{"b":1},"b":2}', false],
    ['{"a":"{\\"a\\":1}","b":"a"}', false],
    ['[{"a":1},{"a":1}]', false],
  ])('%s → %s', (json, expected) => {
    expect(hasDuplicateJsonKeys(json)).toBe(expected);
  });
});

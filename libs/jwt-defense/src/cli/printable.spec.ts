import fc from 'fast-check';
import { printable, printableJson, printableLines, shown } from './printable.js';

/** What a terminal acts on instead of printing, and what reorders or breaks lines. */
const ACTIVE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
/** Strings made mostly of the characters that matter here, and any other character. */
const hostile = fc.array(
  fc.oneof(
    fc.constantFrom('\u001b', '[', '2J', ']0;', '\u0007', '\n', '\r', '\t', '\\', 'x1b', '\u009b', '\u0085', '\u007f', '\u202e', '\u2066', '\u2028', '\u0000', 'a', 'é'),
    fc.string({ unit: 'binary', maxLength: 3 }),
  ),
  { maxLength: 24 },
).map((parts) => parts.join(''));

/** Reads `printable`'s output back (the reference: escapes as documented). */
function unescape(text: string): string {
  return text.replace(/\\\\|\\x([0-9a-f]{2})|\\u([0-9a-f]{4})/g, (match, hex2?: string, hex4?: string) =>
    match === '\\\\' ? '\\' : String.fromCharCode(parseInt(hex2 ?? hex4!, 16)),
  );
}

describe('the CLI escapes what a terminal would act on', () => {
  it('printable: no control, bidi or line-separator character survives, and the text reads back exactly (2000 runs)', () => {
    fc.assert(
      fc.property(hostile, (text) => {
        const shownText = printable(text);
        expect(shownText).not.toMatch(ACTIVE);
        expect(unescape(shownText)).toBe(text);
      }),
      { numRuns: 2000 },
    );
  });

  it('printable: text without those characters or a backslash is shown as it is', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (text) => {
      fc.pre(!ACTIVE.test(text) && !text.includes('\\'));
      expect(printable(text)).toBe(text);
    }));
  });

  it('printableLines keeps line breaks only; printableJson parses back to the same value with nothing active left', () => {
    fc.assert(
      fc.property(hostile, (text) => {
        expect(printableLines(text).replace(/\n/g, '')).not.toMatch(ACTIVE);
        const json = printableJson({ sub: text, list: [text] });
        expect(json).not.toMatch(ACTIVE);
        expect(JSON.parse(json)).toEqual({ sub: text, list: [text] });
      }),
      { numRuns: 1000 },
    );
  });

  it('shown escapes every interpolated value and keeps the template', () => {
    expect(shown`revoked every token of ${'eve\u001b[2J\nok'} at ${3}`).toBe('revoked every token of eve\\x1b[2J\\x0aok at 3');
    expect(shown`${'\u202eexe.txt'}`).toBe('\\u202eexe.txt');
  });
});

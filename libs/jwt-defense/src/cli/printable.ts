/**
 * What the CLI shows of data it did not write (a `sub`, a `reason`, a Redis error): anything a terminal would act on
 * instead of printing is escaped, so an event cannot move the cursor, recolour, retitle the window, forge a line or
 * reorder text in front of an operator. Control characters (C0 with newline and tab, DEL, C1), the Unicode line and
 * paragraph separators, and the bidirectional embeddings, overrides and isolates become `\xHH` or `\uHHHH`; a backslash
 * becomes `\\`, so that an escape shown is never mistaken for text that looked like one.
 */
const UNPRINTABLE = /[\\\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/** The same, for JSON the CLI prints: JSON.stringify escapes C0 itself, and keeps a backslash's own escape. */
const UNPRINTABLE_IN_JSON = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/** The same as UNPRINTABLE but for line breaks, for text whose lines are meant (help, usage errors). */
const UNPRINTABLE_IN_LINES = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function escape(character: string): string {
  if (character === '\\') return '\\\\';
  const code = character.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

function jsonEscape(character: string): string {
  return `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/** One datum, on one line, as the terminal should print it. */
export function printable(value: unknown): string {
  return String(value).replace(UNPRINTABLE, escape);
}

/** Text of several lines (commander's help and errors): line breaks kept, everything else escaped as {@link printable}. */
export function printableLines(text: string): string {
  return text.replace(UNPRINTABLE_IN_LINES, escape);
}

/** `JSON.stringify`, with what it leaves raw that a terminal would act on escaped (the value parses back the same). */
export function printableJson(value: unknown): string {
  return JSON.stringify(value).replace(UNPRINTABLE_IN_JSON, jsonEscape);
}

/** A template tag: every interpolated value is {@link printable}; the template's own text is kept. */
export function shown(strings: TemplateStringsArray, ...values: unknown[]): string {
  return strings.reduce((text, part, index) => text + printable(values[index - 1]) + part);
}

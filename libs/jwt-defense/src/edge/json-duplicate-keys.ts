/**
 * True when a JSON text (already known to be valid JSON) has an object with the same member name twice.
 * `JSON.parse` silently keeps the last one, so `{"alg":"ES256","alg":"none"}` would mean different
 * things to different parsers (RFC 7515 §4: a JWS with duplicate header names must be rejected).
 * Names are compared after unescaping, so `"a"` and `"\u0061"` are the same name.
 */
export function hasDuplicateJsonKeys(json: string): boolean {
  // One entry per open container: the names seen so far for an object, null for an array.
  const stack: Array<Set<string> | null> = [];
  let expectKey = false;
  const length = json.length;
  for (let i = 0; i < length; i++) {
    const c = json.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      let escaped = false;
      for (i++; i < length; i++) {
        const d = json.charCodeAt(i);
        if (d === 0x5c /* \ */) {
          escaped = true;
          i++;
        } else if (d === 0x22) {
          break;
        }
      }
      const names = stack[stack.length - 1];
      if (expectKey && names) {
        const name = escaped ? (JSON.parse(json.slice(start, i + 1)) as string) : json.slice(start + 1, i);
        if (names.has(name)) return true;
        names.add(name);
        expectKey = false;
      }
    } else if (c === 0x7b /* { */) {
      stack.push(new Set());
      expectKey = true;
    } else if (c === 0x5b /* [ */) {
      stack.push(null);
      expectKey = false;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c /* , */) {
      expectKey = stack[stack.length - 1] != null;
    }
  }
  return false;
}

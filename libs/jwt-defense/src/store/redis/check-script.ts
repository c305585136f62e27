import type { AnyCheckPart, CheckPart, CheckScope, DefenseCheckRequest, DefenseCheckResult } from '../check-part.js';
import { DefenseStoreError } from '../defense-store.errors.js';

const PHASES = ['check', 'count', 'commit'] as const;
/** Which parts of a phase run: every present one, those the flow has not refused, those neither refused nor blocked. */
const GATES: Record<(typeof PHASES)[number], string> = { check: '', count: ' and not F.refused', commit: ' and not F.refused and not F.blocked' };

/**
 * The ONE per-request script, composed from the parts (store/check-part.ts): their helpers once, then each phase's
 * fragments in registration order, then every part's reply, one EVALSHA. KEYS: each part's keys in order (a fixed
 * count per part). ARGV: for each part, '1' or '0' (asked for or not), its argument count, its arguments.
 */
export function composeCheckScript(parts: readonly AnyCheckPart[]): { lua: string; numberOfKeys: number } {
  const helpers = [...new Set(parts.flatMap((part) => part.lua.helpers ?? []))];
  const lines: string[] = [...helpers, 'local F = {refused = false, blocked = false}', 'local cursor = 1'];
  lines.push(`local function take()
  local present = ARGV[cursor] == '1'
  local n = tonumber(ARGV[cursor + 1])
  local args = {}
  for i = 1, n do args[i] = ARGV[cursor + 1 + i] end
  cursor = cursor + 2 + n
  return present, args
end`);
  let key = 1;
  parts.forEach((part, i) => {
    const keys = Array.from({ length: part.keyCount }, (_, k) => `KEYS[${key + k}]`).join(', ');
    key += part.keyCount;
    lines.push(`local P${i}, A${i} = take()`, `local K${i} = {${keys}}`, `local S${i} = {}`);
  });
  for (const phase of PHASES) {
    parts.forEach((part, i) => {
      const fragment = part.lua[phase];
      if (fragment) lines.push(`if P${i}${GATES[phase]} then\n  local K, A, S = K${i}, A${i}, S${i}\n${fragment.trim()}\nend`);
    });
  }
  lines.push('local R = {}');
  parts.forEach((part, i) => lines.push(`R[${i + 1}] = 0`, `if P${i} then\n  local K, A, S = K${i}, A${i}, S${i}\n  R[${i + 1}] = ${part.lua.reply}\nend`));
  lines.push('return R');
  return { lua: lines.join('\n'), numberOfKeys: key - 1 };
}

/** The script's KEYS and ARGV for one request. */
export function checkArguments(
  parts: readonly AnyCheckPart[],
  request: DefenseCheckRequest,
  scope: CheckScope,
  key: (kind: string, id: string) => string,
  counterKey: (space: string, key: string) => string,
): Array<string | number> {
  const keys: string[] = [];
  const args: Array<string | number> = [];
  for (const part of parts as ReadonlyArray<CheckPart<unknown, unknown>>) {
    const input = request.parts[part.name];
    const own = part.keys(input, scope, key, counterKey);
    if (own.length !== part.keyCount) throw new TypeError(`jwt-defense: check part ${part.name} gave ${own.length} keys, not its ${part.keyCount}`);
    keys.push(...own);
    if (input === undefined) {
      args.push('0', 0);
    } else {
      const partArgs = part.args(input, scope);
      args.push('1', partArgs.length, ...partArgs);
    }
  }
  return [...keys, ...args];
}

/** Each asked-for part's result from the script's reply. */
export function parseCheckReply(parts: readonly AnyCheckPart[], request: DefenseCheckRequest, reply: unknown): DefenseCheckResult {
  if (!Array.isArray(reply) || reply.length !== parts.length) throw new DefenseStoreError('unexpected Redis reply for check');
  const result: DefenseCheckResult = {};
  parts.forEach((part, i) => {
    if (request.parts[part.name] === undefined) return;
    const own = reply[i] as unknown;
    if (!Array.isArray(own)) throw new DefenseStoreError(`unexpected Redis reply for check: ${part.name}`);
    result[part.name] = part.parse(own);
  });
  return result;
}

import { BUILT_IN_CHECK_PARTS } from '../../pipeline/check-parts.js';
import { checkScope, type AnyCheckPart, type CheckFlow, type CheckPart, type DefenseCheckRequest, type DefenseCheckResult, type MemoryRun, type MemorySpaces } from '../check-part.js';

/**
 * The ONE per-request call in memory, for a store that keeps its state in process: each asked-for built-in part's
 * memory twin over `spaces`, phase by phase, as `MemoryDefenseStore.check` runs them. `nowMs` is the store's clock
 * (epoch ms). The state the other ports write must be in the same spaces (`MemoryDefenseStore.spaces`).
 */
export function runMemoryCheck(spaces: MemorySpaces, request: DefenseCheckRequest, nowMs: number): DefenseCheckResult {
  return runMemoryParts(BUILT_IN_CHECK_PARTS, spaces, request, nowMs);
}

/**
 * Each asked-for part's memory twin, phase by phase in registration order, with the same gates as the composed Lua
 * (count: nothing refused; commit: nothing refused or blocked).
 */
export function runMemoryParts(parts: readonly AnyCheckPart[], spaces: MemorySpaces, request: DefenseCheckRequest, nowMs: number): DefenseCheckResult {
  const scope = checkScope(request, nowMs);
  const flow: CheckFlow = { refused: false, blocked: false };
  const runs: Array<MemoryRun<unknown> & { readonly part: CheckPart<unknown, unknown> }> = [];
  for (const part of parts as ReadonlyArray<CheckPart<unknown, unknown>>) {
    const input = request.parts[part.name];
    if (input !== undefined) runs.push({ part, input, scope, flow, spaces, state: {} });
  }
  for (const run of runs) run.part.memory.check?.(run);
  for (const run of runs) if (!flow.refused) run.part.memory.count?.(run);
  for (const run of runs) if (!flow.refused && !flow.blocked) run.part.memory.commit?.(run);
  const result: DefenseCheckResult = {};
  for (const run of runs) result[run.part.name] = run.part.memory.result(run);
  return result;
}

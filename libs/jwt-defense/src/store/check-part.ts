import type { RateLimitResult } from '../throttling/rate-limit.js';
import type { RateLimitHit } from './defense-store.ports.js';

/**
 * THE SEAM between a layer and the store's ONE per-request call. A layer with per-request state declares a part, in
 * its own folder: its keys and arguments, its Lua fragment, its reply parser, and its memory-store twin. The store only
 * composes the parts (Redis: one script, one EVALSHA, one round trip; memory: one pass over its bounded spaces) and
 * hands back each part's result under the part's name. Adding a layer is a part plus one registration (`CHECK_PARTS`,
 * and its stage in `CHECK_STAGES`): nothing in store/ or pipeline/ changes. Internal: not exported by the barrel; the
 * custom-store entry exports only `MemorySpaces` (with `runMemoryCheck`, which runs the built-in parts' twins over them).
 *
 * Within the call the parts run in three phases, each in registration order, sharing one flow:
 * - `check`: reads; may refuse the request (`flow.refused`: revoked, a replayed proof). Every present part runs.
 * - `count`: writes that count the request (rate limits, baselines); skipped once the request is refused, so that
 *   holding a revoked token or a captured request spends nothing of its user's. May block it (`flow.blocked`).
 * - `commit`: writes that record a request allowed so far (a proof's replay key); skipped once refused or blocked,
 *   so that refused requests cannot fill a space.
 */

/** Who and when: the user's Cluster hash tag and state key (its subject key), and the caller's clock. */
export interface CheckScope {
  readonly tag: string;
  readonly sub: string;
  /** The user's key in the memory spaces, `<tag>:<sub>` (made once per call). */
  readonly user: string;
  /** The caller's clock, epoch ms (the memory twins' "now"). */
  readonly nowMs: number;
}

/** The scope of one call: the request's user, its key in the memory spaces, and `nowMs`. */
export function checkScope(request: DefenseCheckRequest, nowMs: number): CheckScope {
  return { tag: request.tag, sub: request.sub, user: `${request.tag}:${request.sub}`, nowMs };
}

/** What the parts tell each other inside the one call. */
export interface CheckFlow {
  /** A part refused the request: later counting is skipped. */
  refused: boolean;
  /** A limit blocked the request: commits are skipped. */
  blocked: boolean;
}

/**
 * The bounded spaces the parts' memory twins read and write, by name (a name not configured gets the store's
 * defaults). Keys are `<tag>:<id>`. Only what the twins call is here: `MemoryDefenseStore.spaces` is one, and a custom
 * store may hand `runMemoryCheck` a view of its own over them.
 */
export interface MemorySpaces {
  /** Security state (revocations, sessions, epochs, proofs): an entry lives until `expiresAtMs` (epoch ms), never evicted before; `owner` is the principal whose share it counts against. */
  expiring<V>(name: string): {
    get(key: string): V | undefined;
    set(key: string, value: V, expiresAtMs: number, owner: string): void;
  };
  /** Rate-limit counters (the space `RateLimitStore.hit` counts in); `owner`: the principal whose share it counts against (default: `key`). */
  counters(name: string): {
    hit(key: string, hit: Omit<RateLimitHit, 'space' | 'key'>, owner?: string): RateLimitResult;
  };
  /** Per-user state that may go least recently used first (context profiles, anomaly baselines); times in epoch ms. */
  lru<V>(name: string): {
    get(key: string, nowMs: number): V | undefined;
    set(key: string, value: V, nowMs: number, ttlMs: number): void;
  };
}

/** One run of a part's memory twin: its input, the scope, the flow, the spaces, and a state its phases share. */
export interface MemoryRun<In> {
  readonly input: In;
  readonly scope: CheckScope;
  readonly flow: CheckFlow;
  readonly spaces: MemorySpaces;
  readonly state: Record<string, unknown>;
}

/**
 * A part's Lua. Each fragment runs with `K` (its keys, in order), `A` (its arguments, strings), `S` (a table its
 * fragments share) and `F` (the flow: `F.refused`, `F.blocked`); `reply` is an expression over the same names: a
 * table (numbers travel as integers: format a decimal as a string). `helpers` are function definitions placed once
 * at the top of the script (two parts naming the same helper get it once).
 */
export interface LuaPart {
  readonly helpers?: readonly string[];
  readonly check?: string;
  readonly count?: string;
  readonly commit?: string;
  readonly reply: string;
}

/** The memory twin of a part's Lua, phase for phase: the contract suite runs both against the same cases. */
export interface MemoryPart<In, Out> {
  check?(run: MemoryRun<In>): void;
  count?(run: MemoryRun<In>): void;
  commit?(run: MemoryRun<In>): void;
  result(run: MemoryRun<In>): Out;
}

export interface CheckPart<In, Out> {
  /** The part's name: its input and its result travel under it. */
  readonly name: string;
  /** How many Redis keys it touches: a fixed number, all under the user's hash tag (unless `ownSlot`). */
  readonly keyCount: number;
  /**
   * Its keys are a rate-limit counter's (`counterKey`), in that counter's own hash slot, not the user's: on Redis
   * Cluster the store sends it as its own script, in parallel with the rest (one wait; the flow is then not shared:
   * the rest counts even when it refuses). Elsewhere it is one more fragment of the one script.
   */
  readonly ownSlot?: true;
  /**
   * Its keys; `key(kind, id)` builds one under the user's hash tag, `counterKey(space, key)` the key of a rate-limit
   * counter (the one `RateLimitStore.hit` counts). Without input (not asked for): placeholders of the same slot.
   */
  keys(input: In | undefined, scope: CheckScope, key: (kind: string, id: string) => string, counterKey: (space: string, key: string) => string): string[];
  /** Its arguments (strings, or integers). */
  args(input: In, scope: CheckScope): Array<string | number>;
  readonly lua: LuaPart;
  /** Its result from its reply (an array); throws on a reply of the wrong shape. */
  parse(reply: unknown[]): Out;
  readonly memory: MemoryPart<In, Out>;
}

/** Any part, as the store holds them. */
export type AnyCheckPart = CheckPart<never, unknown>;

/** The per-request call: the user, and the input of each part asked for (by name). */
export interface DefenseCheckRequest {
  /** Cluster hash tag of the subject (`userTag(subject)`). */
  tag: string;
  /** The user's state key: the subject, or the issuer and subject of an external issuer's (`subjectKey`). */
  sub: string;
  /** The caller's clock, epoch ms. Default: the store's own "now". */
  nowMs?: number;
  /** Each part's input, by part name; a part without input is not run. */
  parts: Record<string, unknown>;
}

/** Each part's result, by part name (only the parts asked for). */
export type DefenseCheckResult = Record<string, unknown>;

/** Asks for `part` in the call. */
export function askPart<In>(check: DefenseCheckRequest, part: CheckPart<In, unknown>, input: In): void {
  check.parts[part.name] = input;
}

/** `part`'s result in the call's answer, when it was asked for. */
export function partResult<Out>(result: DefenseCheckResult, part: CheckPart<never, Out>): Out | undefined {
  return result[part.name] as Out | undefined;
}

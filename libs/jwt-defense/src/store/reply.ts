import { DefenseStoreError } from './defense-store.errors.js';

/** A store reply's number (Redis returns integers, or decimals as strings); anything else is a `DefenseStoreError`. */
export function decimal(value: unknown, what: string): number {
  const number = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
  if (!Number.isFinite(number)) throw new DefenseStoreError(`unexpected Redis reply for ${what}`);
  return number;
}

/** A store reply's safe integer; anything else is a `DefenseStoreError`. */
export function integer(value: unknown, what: string): number {
  const number = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : NaN;
  if (!Number.isSafeInteger(number)) throw new DefenseStoreError(`unexpected Redis reply for ${what}`);
  return number;
}

/** A reply of exactly `length` elements, or a `DefenseStoreError`. */
export function replyOf(reply: unknown[], length: number, what: string): unknown[] {
  if (reply.length !== length) throw new DefenseStoreError(`unexpected Redis reply for ${what}`);
  return reply;
}

/**
 * A value now, or later. The hot path answers synchronously whenever nothing has to wait (a cached token, the memory
 * store): each `await` of an already-known value costs a microtask and a promise, and a request has several.
 */
export type MaybePromise<T> = T | Promise<T>;

export function isPromise<T>(value: MaybePromise<T>): value is Promise<T> {
  return typeof (value as { then?: unknown } | null | undefined)?.then === 'function';
}

/**
 * `next(value)` now when `value` is known, after it settles otherwise; a synchronous throw of `next` stays a throw
 * (the caller's `try` sees it), a rejection stays a rejection.
 */
export function then<T, R>(value: MaybePromise<T>, next: (value: T) => MaybePromise<R>): MaybePromise<R> {
  return isPromise(value) ? value.then(next) : next(value);
}

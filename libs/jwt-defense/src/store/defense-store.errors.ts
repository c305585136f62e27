/** The store could not answer (down, timed out, full, or an unexpected reply). Layers apply their fail mode. */
export class DefenseStoreError extends Error {
  override readonly name: string = 'DefenseStoreError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * A bounded space of the memory store is full of live entries. Security state is never dropped to make room,
 * so the write is refused: raise the capacity (`store.max*`), or use Redis. Handled like any store failure.
 */
export class StoreCapacityError extends DefenseStoreError {
  override readonly name = 'StoreCapacityError';

  constructor(
    readonly space: string,
    readonly capacity: number,
  ) {
    super(`the memory store's ${space} space is full (${capacity} live entries)`);
  }
}

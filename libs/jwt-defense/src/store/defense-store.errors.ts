/** The store could not answer (down, timed out, or an unexpected reply). Layers apply their fail mode. */
export class DefenseStoreError extends Error {
  override readonly name = 'DefenseStoreError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** What a layer does when the store cannot answer: `closed` refuses (503), `open` lets the request through (an event). */
export type FailMode = 'open' | 'closed';
export const FAIL_MODES: readonly FailMode[] = ['open', 'closed'];

// Types of scripts/error-codes-reference.mjs, for the test that keeps the README's error-code table in sync.
export interface ErrorCodeRow {
  code: string;
  status: string;
  when: string;
}
export const START: string;
export const END: string;
export function buildErrorCodesTable(rootDir?: string): { markdown: string; rows: ErrorCodeRow[]; problems: string[] };
export function withTable(readme: string, markdown: string): string;

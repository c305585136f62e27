// Types of scripts/architecture-reference.mjs, for the test that keeps docs/ARCHITECTURE.md's stage table in sync.
export interface StageRow {
  name: string;
  layer: string | undefined;
  doc: string;
  file: string | undefined;
}
export interface PartRow {
  name: string | undefined;
  constant: string;
  keyCount: number;
  phases: string[];
  doc: string;
  file: string | undefined;
}
export function readRegistrations(rootDir?: string): { stages: StageRow[]; parts: PartRow[]; problems: string[] };
export function buildStageTable(rootDir?: string): { table: string; problems: string[] };
export function renderArchitecture(rootDir?: string): { onDisk: string; rendered: string; problems: string[] };

// Types of scripts/config-reference.mjs, for the test that keeps docs/CONFIGURATION.md in sync.
export interface ConfigurationRow {
  path: string;
  type: string;
  default: string;
  doc: string;
  link?: string[];
}
export interface ConfigurationSection {
  title: string;
  anchor: string;
  className: string;
  doc: string;
  rows: ConfigurationRow[];
}
export function buildConfigurationReference(rootDir?: string): {
  markdown: string;
  rows: ConfigurationRow[];
  sections: ConfigurationSection[];
  problems: string[];
};

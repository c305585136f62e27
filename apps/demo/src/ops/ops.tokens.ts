import type { Registry } from 'prom-client';

/** What the demo's operations endpoints share: its Prometheus registry and how `/metrics` is opened. */
export const DEMO_OPS = Symbol('DEMO_OPS');
export interface DemoOps {
  registry: Registry;
  /** METRICS_PUBLIC=true: `/metrics` without any token. */
  metricsPublic: boolean;
  /** METRICS_TOKEN: a static bearer for scrapers (they cannot log in every 5 minutes). */
  metricsToken?: string;
  /** SIEM_URL: where security events are forwarded as NDJSON (absent: not forwarded). */
  siemUrl?: string;
  /** SIEM_TOKEN: the bearer of the SIEM's HTTP input. */
  siemToken?: string;
}

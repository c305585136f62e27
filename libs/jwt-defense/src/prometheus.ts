// `@jwt-defense/core/prometheus`: the Prometheus metrics sink, which needs prom-client (an optional peer), kept out
// of the main entry so an app without Prometheus neither installs nor loads prom-client.
export { PrometheusDefenseMetrics } from './metrics/prometheus.metrics.js';
export type { PrometheusDefenseMetricsOptions } from './metrics/prometheus.metrics.js';

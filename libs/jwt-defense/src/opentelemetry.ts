// `@jwt-defense/core/opentelemetry`: the OpenTelemetry metrics sink and span per request, which need
// @opentelemetry/api (an optional peer), kept out of the main entry so an app without OpenTelemetry never loads it.
export { OpenTelemetryDefenseMetrics } from './metrics/opentelemetry.metrics.js';
export type { OpenTelemetryDefenseMetricsOptions } from './metrics/opentelemetry.metrics.js';

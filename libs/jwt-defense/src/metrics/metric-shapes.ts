// What every metrics sink shares, whatever it reports to: the histograms' buckets and the cap on route labels.

/** Store call durations, in seconds. */
export const STORE_BUCKETS_SEC = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
/** Context-risk scores (0-1). */
export const SCORE_BUCKETS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1];

/**
 * Route templates as label values, capped: the first `max` distinct ones keep their name, later ones count as `other`
 * (a guard against unbounded label sets, should an app's templates be many).
 */
export class RouteLabels {
  private readonly routes = new Set<string>();

  constructor(private readonly max: number) {}

  of(route: string): string {
    if (this.routes.has(route)) return route;
    if (this.routes.size >= this.max) return 'other';
    this.routes.add(route);
    return route;
  }
}

// The series the ops page charts, read from the prom-client registry the server already keeps
// (with --workers, every worker's added up by the main thread). One list: the page's charts, the
// Grafana dashboard and the tests that keep the dashboard true all name these metrics.

/** A metric as prom-client's getMetricsAsJSON() gives it. */
export interface MetricJson {
  name: string;
  values: { value: number; labels: Partial<Record<string, string | number>>; metricName?: string }[];
}

/** One second of the server, as the page charts it: gauges as they are, counters as per-second rates. */
export interface Point {
  /** ms since the epoch */
  t: number;
  connections: number;
  publishes: number;
  deliveries: number;
  /** bytes of msg frames queued per second, at their uncompressed size */
  bytesOut: number;
  /**
   * The part of bytesOut that went to subscribers with permessage-deflate: its uncompressed
   * bytes/s (`source`) and the compressed bytes/s it took on the wire (`wire`). source / bytesOut
   * is the compressed share; bytesOut - source + wire what went to the kernel.
   */
  compressed: { source: number; wire: number };
  /** closes per second by reason: slow consumer (1013), close timeout, policy (1008 for flooding) */
  closes: { slow: number; timeout: number; policy: number };
  /** err replies per second by code */
  errors: Record<string, number>;
  /** event-loop lag of the main thread as last measured (a setImmediate's delay), ms */
  lagMs: number;
}

export const SERIES = {
  connections: 'ringcast_connections',
  publishes: 'ringcast_publishes_total',
  deliveries: 'ringcast_deliveries_total',
  bytesOut: 'ringcast_bytes_out_total',
  compressedSource: 'ringcast_bytes_out_compressed_source_total',
  compressedWire: 'ringcast_bytes_out_compressed_total',
  slow: 'ringcast_slow_consumer_closes_total',
  timeout: 'ringcast_close_timeouts_total',
  policy: 'ringcast_rate_limit_closes_total',
  errors: 'ringcast_request_errors_total',
  lag: 'nodejs_eventloop_lag_seconds',
} as const;

/** The sum of a metric's values over every label set (0 when the registry lacks it: a series of another transport). */
function sum(metrics: readonly MetricJson[], name: string): number {
  const m = metrics.find((x) => x.name === name);
  if (m === undefined) return 0;
  let total = 0;
  for (const v of m.values) if (v.metricName === undefined || v.metricName === name) total += v.value;
  return total;
}

function byLabel(metrics: readonly MetricJson[], name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of metrics.find((x) => x.name === name)?.values ?? []) {
    const key = String(v.labels[label] ?? '');
    out[key] = (out[key] ?? 0) + v.value;
  }
  return out;
}

/** The running totals a point is the difference of. */
export interface Totals {
  t: number;
  connections: number;
  publishes: number;
  deliveries: number;
  bytesOut: number;
  compressedSource: number;
  compressedWire: number;
  slow: number;
  timeout: number;
  policy: number;
  errors: Record<string, number>;
  lag: number;
}

export function totals(metrics: readonly MetricJson[], t: number): Totals {
  return {
    t,
    connections: sum(metrics, SERIES.connections),
    publishes: sum(metrics, SERIES.publishes),
    deliveries: sum(metrics, SERIES.deliveries),
    bytesOut: sum(metrics, SERIES.bytesOut),
    compressedSource: sum(metrics, SERIES.compressedSource),
    compressedWire: sum(metrics, SERIES.compressedWire),
    slow: sum(metrics, SERIES.slow),
    timeout: sum(metrics, SERIES.timeout),
    policy: sum(metrics, SERIES.policy),
    errors: byLabel(metrics, SERIES.errors, 'code'),
    lag: sum(metrics, SERIES.lag),
  };
}

/**
 * The rates between two readings. A counter that went down (a worker's registry lost with its
 * thread, a restart) counts as 0 for that second rather than as a negative rate.
 */
export function point(prev: Totals | undefined, cur: Totals): Point {
  const dt = prev === undefined ? 0 : (cur.t - prev.t) / 1000;
  const rate = (a: number, b: number | undefined) => (dt <= 0 || b === undefined ? 0 : Math.max(0, a - b) / dt);
  const errors: Record<string, number> = {};
  for (const [code, n] of Object.entries(cur.errors)) {
    const r = rate(n, prev?.errors[code] ?? 0);
    if (r > 0) errors[code] = r;
  }
  return {
    t: cur.t,
    connections: cur.connections,
    publishes: rate(cur.publishes, prev?.publishes),
    deliveries: rate(cur.deliveries, prev?.deliveries),
    bytesOut: rate(cur.bytesOut, prev?.bytesOut),
    compressed: { source: rate(cur.compressedSource, prev?.compressedSource), wire: rate(cur.compressedWire, prev?.compressedWire) },
    closes: { slow: rate(cur.slow, prev?.slow), timeout: rate(cur.timeout, prev?.timeout), policy: rate(cur.policy, prev?.policy) },
    errors,
    lagMs: cur.lag * 1000,
  };
}

/** Five minutes of points, one a second: what a page that just opened draws at once. */
export class History {
  private readonly points: Point[] = [];

  constructor(private readonly capacity = 300) {}

  push(p: Point): void {
    this.points.push(p);
    if (this.points.length > this.capacity) this.points.shift();
  }

  all(): Point[] {
    return [...this.points];
  }
}

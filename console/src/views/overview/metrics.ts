// KeybridgeAdmin.DescribeRequestMetrics (src/admin/describe-request-metrics.ts) and the sums the
// overview draws from it. Periods carry no latency of their own: every request is counted under
// exactly one operation, so a period's latency is its operations' averages weighted by requests.

export interface Figures {
  readonly Requests: number;
  readonly Errors: number;
  readonly AverageLatencyMs: number;
  readonly MaxLatencyMs: number;
}

export interface Period {
  readonly StartTime: number;
  readonly Requests: number;
  readonly Errors: number;
  readonly Operations: ReadonlyArray<Figures & { readonly Operation: string }>;
  readonly Stores: ReadonlyArray<Figures & { readonly Store: string }>;
}

export interface RequestMetrics {
  readonly PeriodSeconds: number;
  readonly Node: string;
  readonly Periods: readonly Period[];
}

/** A group's figures over the whole window. */
export interface Summary extends Figures {
  readonly name: string;
}

/** One group's figures per period, aligned with the window's periods (zeros where absent). */
export interface Series {
  readonly requests: number[];
  readonly errors: number[];
  readonly latency: number[];
}

function summarize(name: string, rows: readonly Figures[]): Summary {
  let requests = 0;
  let errors = 0;
  let latencySum = 0;
  let max = 0;
  for (const r of rows) {
    requests += r.Requests;
    errors += r.Errors;
    latencySum += r.AverageLatencyMs * r.Requests;
    max = Math.max(max, r.MaxLatencyMs);
  }
  return { name, Requests: requests, Errors: errors, AverageLatencyMs: requests === 0 ? 0 : latencySum / requests, MaxLatencyMs: max };
}

export function totals(metrics: RequestMetrics): Summary {
  return summarize(
    'total',
    metrics.Periods.flatMap((p) => p.Operations),
  );
}

/** Busiest first. */
function groups<K extends 'Operation' | 'Store'>(metrics: RequestMetrics, rowsOf: (p: Period) => ReadonlyArray<Figures & Record<K, string>>, key: K): Summary[] {
  const byName = new Map<string, Figures[]>();
  for (const p of metrics.Periods) {
    for (const row of rowsOf(p)) {
      const list = byName.get(row[key]) ?? [];
      list.push(row);
      byName.set(row[key], list);
    }
  }
  return [...byName].map(([name, rows]) => summarize(name, rows)).sort((a, b) => b.Requests - a.Requests || (a.name < b.name ? -1 : 1));
}

export const operations = (m: RequestMetrics) => groups(m, (p) => p.Operations, 'Operation');
export const stores = (m: RequestMetrics) => groups(m, (p) => p.Stores, 'Store');

export function totalSeries(metrics: RequestMetrics): Series {
  return {
    requests: metrics.Periods.map((p) => p.Requests),
    errors: metrics.Periods.map((p) => p.Errors),
    latency: metrics.Periods.map((p) => summarize('', p.Operations).AverageLatencyMs),
  };
}

export function operationSeries(metrics: RequestMetrics, operation: string): Series {
  return seriesOf(metrics.Periods.map((p) => p.Operations.find((o) => o.Operation === operation)));
}

export function storeSeries(metrics: RequestMetrics, store: string): Series {
  return seriesOf(metrics.Periods.map((p) => p.Stores.find((s) => s.Store === store)));
}

function seriesOf(rows: ReadonlyArray<Figures | undefined>): Series {
  return {
    requests: rows.map((r) => r?.Requests ?? 0),
    errors: rows.map((r) => r?.Errors ?? 0),
    latency: rows.map((r) => r?.AverageLatencyMs ?? 0),
  };
}

/** "12.3 ms", "0.42 ms", "1,234 ms". */
export function ms(value: number): string {
  if (value === 0) return '0 ms';
  return `${value >= 100 ? Math.round(value).toLocaleString('en-US') : value >= 10 ? value.toFixed(1) : value.toFixed(2)} ms`;
}

export function percent(errors: number, requests: number): string {
  return requests === 0 ? '—' : `${((errors / requests) * 100).toFixed(errors === 0 || errors === requests ? 0 : 1)}%`;
}

/** An axis label: "0", "2.5ms", "50ms", "1.5s". */
export function axisMs(value: number): string {
  if (value === 0) return '0';
  return value >= 1000 ? `${Number((value / 1000).toPrecision(3))}s` : `${Number(value.toPrecision(3))}ms`;
}

// The overview's charts: the whole service per period, then the busiest operations and every key
// store, each small enough that a dozen fit on a screen.

import { Chart } from './Chart.js';
import { axisMs, ms, operationSeries, type RequestMetrics, type Series, storeSeries, type Summary, totalSeries } from './metrics.js';

const TOP_OPERATIONS = 6;

/** Latency is only drawn where there were requests to time. */
function latencyLine(series: Series) {
  return { label: 'avg latency', kind: 'latency', format: ms, axis: axisMs, values: series.latency.map((v, i) => ((series.requests[i] ?? 0) > 0 ? v : null)) };
}

/** A test id from a name that may hold any character (store ids do not, operation names do not; "other" is fine). */
const slug = (name: string) => name.replace(/[^A-Za-z0-9_-]/g, '_');

export function Charts({ metrics, operations, stores, minutes }: { metrics: RequestMetrics; operations: readonly Summary[]; stores: readonly Summary[]; minutes: number }) {
  const times = metrics.Periods.map((p) => p.StartTime);
  const total = totalSeries(metrics);
  const span = `last ${minutes} minutes, ${metrics.PeriodSeconds}-second periods`;
  const common = { times, periodSeconds: metrics.PeriodSeconds };
  const sum = (v: readonly number[]) => v.reduce((a, b) => a + b, 0);

  return (
    <div class="charts" data-testid="overview-charts">
      <Chart
        {...common}
        testId="chart-requests"
        caption="Requests per period"
        summary={`Requests per period, ${span}: ${sum(total.requests)} in all, at most ${Math.max(0, ...total.requests)} in one period.`}
        bars={[{ label: 'requests', kind: 'requests', values: total.requests }]}
      />
      <Chart
        {...common}
        testId="chart-errors"
        caption="Errors per period"
        summary={`Errors per period, ${span}: ${sum(total.errors)} in all, at most ${Math.max(0, ...total.errors)} in one period.`}
        bars={[{ label: 'errors', kind: 'errors', values: total.errors }]}
      />
      <Chart
        {...common}
        testId="chart-latency"
        caption="Average latency per period"
        summary={`Average latency per period, ${span}: at most ${ms(Math.max(0, ...total.latency))}.`}
        line={latencyLine(total)}
      />
      {operations.slice(0, TOP_OPERATIONS).map((op) => {
        const s = operationSeries(metrics, op.name);
        return (
          <Chart
            {...common}
            testId={`chart-op-${slug(op.name)}`}
            caption={
              <>
                Operation <span class="mono">{op.name}</span>
              </>
            }
            summary={`${op.name}: requests and errors per period, ${span}: ${op.Requests} requests, ${op.Errors} errors.`}
            bars={[
              { label: 'requests', kind: 'requests', values: s.requests },
              { label: 'errors', kind: 'errors', values: s.errors },
            ]}
          />
        );
      })}
      {stores.map((store) => {
        const s = storeSeries(metrics, store.name);
        return (
          <Chart
            {...common}
            testId={`chart-store-${slug(store.name)}`}
            caption={
              <>
                Key store <span class="mono">{store.name}</span>
              </>
            }
            summary={`Key store ${store.name}: requests, errors and average latency per period, ${span}: ${store.Requests} requests, ${store.Errors} errors, average ${ms(store.AverageLatencyMs)}.`}
            bars={[
              { label: 'requests', kind: 'requests', values: s.requests },
              { label: 'errors', kind: 'errors', values: s.errors },
            ]}
            line={latencyLine(s)}
          />
        );
      })}
    </div>
  );
}
